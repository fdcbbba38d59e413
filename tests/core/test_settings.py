import pytest

from loopdesk.core.settings import AuthSettings, DatabaseSettings, ServerSettings, Settings, SettingsError


def _production(**auth) -> Settings:
    return Settings(server=ServerSettings(env="production", _env_file=None), auth=AuthSettings(_env_file=None, **auth))


def test_production_refuses_a_missing_or_default_jwt_secret():
    for secret in (None, "changeme", "short-but-random"):
        with pytest.raises(SettingsError, match="LOOPDESK_JWT_SECRET"):
            _production(jwt_secret=secret).check_production()


def test_production_refuses_a_default_admin_password_and_insecure_cookies():
    with pytest.raises(SettingsError) as caught:
        _production(jwt_secret="r" * 40, admin_password="admin", cookie_secure=False).check_production()
    message = str(caught.value)
    assert "LOOPDESK_ADMIN_PASSWORD" in message and "LOOPDESK_COOKIE_SECURE" in message
    assert "admin" not in message.split("LOOPDESK_ENV=production")[0]


def test_production_with_proper_secrets_starts_with_secure_cookies():
    settings = _production(jwt_secret="r" * 40, admin_password="a-long-admin-password")
    settings.check_production()
    assert settings.cookie_secure is True


def test_settings_come_from_loopdesk_environment_variables(monkeypatch):
    monkeypatch.setenv("LOOPDESK_PORT", "9100")
    monkeypatch.setenv("LOOPDESK_LOG_FORMAT", "json")
    monkeypatch.setenv("LOOPDESK_DATABASE_URL", "postgresql://u:p@db.internal/x")
    monkeypatch.setenv("LOOPDESK_MAX_BODY_BYTES", "2048")
    settings = Settings.load()
    assert settings.server.port == 9100 and settings.server.max_body_bytes == 2048
    assert settings.logging.log_format == "json"
    assert settings.database.database_url.get_secret_value() == "postgresql://u:p@db.internal/x"
    assert "p@db" not in repr(settings)  # secrets stay out of reprs and logs


def test_invalid_values_fail_with_the_variable_named(monkeypatch):
    monkeypatch.setenv("LOOPDESK_PORT", "not-a-port")
    with pytest.raises(SettingsError, match="port"):
        Settings.load()
    monkeypatch.delenv("LOOPDESK_PORT")
    monkeypatch.setenv("LOOPDESK_LOGIN_LIMIT_PER_IP", "lots")
    with pytest.raises(SettingsError, match="login_limit_per_ip"):
        Settings.load()


def test_development_generates_one_jwt_key_and_keeps_it(tmp_path):
    def make() -> Settings:
        return Settings(database=DatabaseSettings(data_dir=tmp_path, _env_file=None), auth=AuthSettings(_env_file=None))

    first, second = make().jwt_key, make().jwt_key
    assert first == second and len(first) >= 48
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0


def test_a_redis_url_of_another_scheme_is_refused_at_start(monkeypatch):
    monkeypatch.setenv("LOOPDESK_REDIS_URL", "http://cache:6379")
    with pytest.raises(SettingsError, match="redis_url"):
        Settings.load()


def test_the_seeds_variable_names_are_read_when_the_loopdesk_ones_are_unset(monkeypatch):
    for name in ("LOOPDESK_DATABASE_URL", "LOOPDESK_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://seed@db.example.com/app")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = Settings.load()
    assert settings.database.database_url.get_secret_value() == "postgresql://seed@db.example.com/app"
    assert settings.logging.log_level == "DEBUG"
    monkeypatch.setenv("LOOPDESK_DATABASE_URL", "postgresql://ours@db.example.com/loopdesk")
    monkeypatch.setenv("LOOPDESK_LOG_LEVEL", "warning")
    settings = Settings.load()
    assert settings.database.database_url.get_secret_value() == "postgresql://ours@db.example.com/loopdesk"
    assert settings.logging.log_level == "WARNING"


def test_session_and_run_limit_settings_are_validated(monkeypatch):
    monkeypatch.setenv("LOOPDESK_RUN_RATE_LIMIT", "lots")
    with pytest.raises(SettingsError, match="run_rate_limit"):
        Settings.load()
    monkeypatch.setenv("LOOPDESK_RUN_RATE_LIMIT", "5/second")
    monkeypatch.setenv("LOOPDESK_SESSION_TTL_MINUTES", "0")
    settings = Settings.load()
    assert settings.sessions.run_rate_limit == "5/second" and settings.sessions.session_ttl_minutes == 0
