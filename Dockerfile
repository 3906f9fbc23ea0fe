# c66d packaged; mount /var/run/docker.sock to drive the host's engine.
FROM python:3.11-slim-bookworm
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends git openssh-client docker.io \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/c66d
COPY pyproject.toml README.md ./
COPY c66d ./c66d
COPY static ./static
RUN pip install --no-cache-dir -e .
VOLUME /data
EXPOSE 8066 5353/udp 5353/tcp
ENV C66D_DATA_DIR=/data C66D_HTTP=0.0.0.0:8066 C66D_DNS=0.0.0.0:5353
ENTRYPOINT ["c66d"]
CMD ["serve"]
