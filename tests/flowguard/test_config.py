"""Settings: defaults, the YAML file, environment precedence, clear errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from flowguard.config import Settings, load_settings, to_environment
from flowguard.errors import ConfigError


def test_defaults_follow_the_otlp_ports() -> None:
    """With nothing set, the OTLP ports are 4317 and 4318 and the database is
    the embedded default."""
    settings = load_settings({})
    assert (settings.otlp_grpc_port, settings.otlp_http_port) == (4317, 4318)
    assert settings.http_port == 8000
    assert settings.bind == "127.0.0.1"
    assert settings.database_url is None
    assert settings.max_request_bytes == 16 * 1024 * 1024


def test_file_settings_are_overridden_by_the_environment(tmp_path: Path) -> None:
    """The YAML file sets values; FLOWGUARD_* variables win over it."""
    config = tmp_path / "flowguard.yaml"
    config.write_text("http_port: 9000\notlp_http_port: 14318\nbind: 0.0.0.0\n")
    settings = load_settings(
        {"FLOWGUARD_CONFIG": str(config), "FLOWGUARD_HTTP_PORT": "9100"}
    )
    assert settings == Settings(http_port=9100, otlp_http_port=14318, bind="0.0.0.0")


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"FLOWGUARD_OTLP_GRPC_PORT": "70000"}, "FLOWGUARD_OTLP_GRPC_PORT"),
        ({"FLOWGUARD_HTTP_PORT": "eighty"}, "'eighty'"),
        ({"FLOWGUARD_DATABASE_URL": "mysql://x"}, "PostgreSQL URL"),
        ({"FLOWGUARD_MAX_REQUEST_BYTES": "0"}, "at least 1"),
        ({"FLOWGUARD_LOG_LEVEL": "LOUD"}, "FLOWGUARD_LOG_LEVEL"),
        ({"FLOWGUARD_CONFIG": "/nonexistent/flowguard.yaml"}, "cannot be read"),
        (
            {"FLOWGUARD_BATCH_MAX_BYTES": "100", "FLOWGUARD_MAX_INFLIGHT_BYTES": "10"},
            "must not exceed",
        ),
        ({"FLOWGUARD_RETENTION_LOGS": "a week"}, "FLOWGUARD_RETENTION_LOGS"),
        ({"FLOWGUARD_RETENTION_LOGS": "0d"}, "longer than zero"),
        ({"FLOWGUARD_ROLLUP_LATE_WINDOW": "soon"}, "FLOWGUARD_ROLLUP_LATE_WINDOW"),
        ({"FLOWGUARD_ANOMALY_THRESHOLD": "1.5"}, "between 0 and 1"),
        (
            {"FLOWGUARD_RETENTION_KPI_1M": "30d", "FLOWGUARD_RETENTION_KPI_1H": "7d"},
            "FLOWGUARD_RETENTION_KPI_1H must not be shorter",
        ),
    ],
)
def test_bad_values_name_the_setting_and_value(env: dict[str, str], words: str) -> None:
    """Each bad value raises ConfigError naming what is wrong."""
    with pytest.raises(ConfigError, match=words):
        load_settings(env)


def test_unknown_file_keys_are_refused(tmp_path: Path) -> None:
    """A misspelt key in the file is an error, not silently ignored."""
    config = tmp_path / "flowguard.yaml"
    config.write_text("htp_port: 9000\n")
    with pytest.raises(ConfigError, match="htp_port"):
        load_settings({"FLOWGUARD_CONFIG": str(config)})


def test_lists_and_durations_read_from_variables_and_round_trip() -> None:
    """Comma-separated lists and durations parse, and to_environment gives
    back variables that load the same settings."""
    settings = load_settings(
        {
            "FLOWGUARD_LOG_PROCESSORS": "severity, patterns",
            "FLOWGUARD_RETENTION_LOGS": "36h",
            "FLOWGUARD_METRIC_PROCESSORS": "",
            "FLOWGUARD_ROLLUP_LATE_WINDOW": "3d",
        }
    )
    assert settings.log_processors == ("severity", "patterns")
    assert settings.metric_processors == ()
    assert settings.retention_logs == timedelta(hours=36)
    assert settings.rollup_late_window == timedelta(days=3)
    assert load_settings(to_environment(settings)) == settings
