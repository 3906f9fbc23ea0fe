from __future__ import annotations

import re
from pathlib import Path

import pytest

from c66d.cli import main
from c66d.config import SETTINGS, Config, HostPort, load_config
from c66d.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_the_embedded_install() -> None:
    config = load_config(environ={})
    assert config == Config()
    assert config.http == HostPort("127.0.0.1", 8066)
    assert config.dns == HostPort("127.0.0.1", 5353)
    assert config.data_dir == Path("c66d-data")


def test_every_setting_is_a_config_field_with_the_same_default() -> None:
    fields = Config.__dataclass_fields__
    assert set(fields) == {s.name for s in SETTINGS}
    for s in SETTINGS:
        assert getattr(Config(), s.name) == s.default, s.name


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    file = tmp_path / "c66d.toml"
    file.write_text('http = "127.0.0.1:9000"\ndns = "127.0.0.1:9053"\nbuild_concurrency = 4\n'
                    'dns_upstreams = ["127.0.0.1:53", "127.0.0.2"]\n')
    env = {"C66D_DNS": "127.0.0.1:9153", "C66D_BUILD_CONCURRENCY": "5", "HOME": "/root"}
    config = load_config(file=file, environ=env, flags={"build_concurrency": "6", "http": None})
    assert config.http == HostPort("127.0.0.1", 9000)  # from the file
    assert config.dns == HostPort("127.0.0.1", 9153)  # environment beats file
    assert config.build_concurrency == 6  # flag beats environment
    assert config.dns_upstreams == ("127.0.0.1:53", "127.0.0.2")


def test_config_file_from_environment(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text("dns_zone = \"corp.internal\"\n")
    assert load_config(environ={"C66D_CONFIG": str(file)}).dns_zone == "corp.internal"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"C66D_HTTPS": "1"}, "unknown setting 'https' in environment variable C66D_HTTPS"),
        ({"C66D_HTTP": "localhost"}, "bad value for setting 'http'"),
        ({"C66D_DNS": "127.0.0.1:70000"}, "port must be 0..65535"),
        ({"C66D_BUILD_CONCURRENCY": "0"}, "'build_concurrency'"),
        ({"C66D_CLUSTER_RANGE": "10.66.0.1/16"}, "'cluster_range'"),
        ({"C66D_REGISTRY_ANONYMOUS_PULL": "maybe"}, "expected true or false"),
    ],
)
def test_bad_environment_names_the_key(source: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(environ=source)


def test_unknown_key_in_file_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "c66d.toml"
    file.write_text("htp = \"127.0.0.1:1\"\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'htp' in config file .*c66d.toml"):
        load_config(file=file, environ={})


def test_bad_toml_is_reported(tmp_path: Path) -> None:
    file = tmp_path / "c66d.toml"
    file.write_text("http = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(file=file, environ={})


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for s in SETTINGS:
        env = "C66D_" + s.name.upper()
        assert f"`{s.name}`" in readme, f"setting {s.name} is not documented in README.md"
        assert env in readme, f"environment variable {env} is not documented in README.md"


def test_cli_config_show_masks_the_admin_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("C66D_ADMIN_PASSWORD", "hunter2-secret")
    assert main(["config", "show", "--http", "127.0.0.1:1234"]) == 0
    out = capsys.readouterr().out
    assert "http = 127.0.0.1:1234" in out
    assert "hunter2-secret" not in out
    assert "admin_password = ***" in out


def test_cli_bad_flag_value_exits_with_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--dns", "nope"]) == 1
    assert "bad value for setting 'dns' in flag --dns" in capsys.readouterr().err
