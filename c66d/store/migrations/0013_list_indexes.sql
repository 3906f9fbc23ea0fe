-- Lists page by these keys (API `?limit=&cursor=`): containers in stack/service/server/name order.
CREATE INDEX containers_listing ON containers (stack, service, server, name, id);
