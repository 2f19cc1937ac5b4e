"""Settings come from the environment once; secrets never show up in reprs."""

import pytest

from onsflux.exceptions import ConfigError
from onsflux.settings import Settings, duration_seconds


def test_environment_names_of_the_old_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFLUXDB_URL", "http://influx.example:8086")
    monkeypatch.setenv("INFLUXDB_TOKEN", "s3cr3t-token")
    monkeypatch.setenv("INFLUXDB_ORG", "acme")
    monkeypatch.setenv("ONSFLUX_BATCH_LINES", "1234")
    s = Settings()
    assert s.influxdb_url == "http://influx.example:8086"
    assert s.influxdb_org == "acme"
    assert s.batch_lines == 1234
    assert s.influxdb_token is not None and s.influxdb_token.get_secret_value() == "s3cr3t-token"
    assert "s3cr3t-token" not in repr(s) and "s3cr3t-token" not in str(s.model_dump())


def test_flags_override_and_none_means_not_given(tmp_path) -> None:
    s = Settings(state_dir=tmp_path, influxdb_url="http://kept:8086")
    t = s.with_overrides(batch_lines=10, influxdb_url=None)
    assert t.batch_lines == 10 and s.batch_lines == 5000
    assert t.influxdb_url == "http://kept:8086"  # None did not clear what was set
    assert t.state_path == str(tmp_path / "state.sqlite")


@pytest.mark.parametrize(("text", "seconds"), [("2555d", 2555 * 86400), ("1w2d", 9 * 86400),
                                                ("12h", 43200), ("30m", 1800)])
def test_durations(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["7y", "", "d", "12x"])
def test_bad_durations_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid duration"):
        duration_seconds(text)


def test_overrides_are_validated_and_beat_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path) -> None:
    monkeypatch.setenv("ONSFLUX_BATCH_LINES", "999")
    s = Settings(state_dir=tmp_path, batch_lines=10)
    t = s.with_overrides(api_keys="k1,k2", write_workers="3")
    assert t.api_keys is not None and t.api_keys.get_secret_value() == "k1,k2"
    assert t.write_workers == 3 and t.batch_lines == 10
    with pytest.raises(ConfigError, match="unknown setting"):
        s.with_overrides(nope=1)
