"""One settings object: defaults, a TOML file, PAPERCHAT_* variables on top, unknown keys
refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from paperchat.settings import Settings


def test_defaults_are_offline_and_local(isolated_home: Path) -> None:
    settings = Settings()
    assert settings.home == isolated_home
    assert (settings.ingest.model, settings.answer.answerer) == ("all-MiniLM-L6-v2", "extractive")
    assert (settings.ui.host, settings.chroma_url) == ("127.0.0.1", "")


def test_a_config_file_sets_values_and_environment_variables_win(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "paperchat.toml"
    config.write_text('[retrieval]\ntop_k = 8\nmode = "bm25"\n[ui]\nport = 9000\n')
    monkeypatch.setenv("PAPERCHAT_CONFIG", str(config))
    monkeypatch.setenv("PAPERCHAT_RETRIEVAL__MODE", "dense")
    settings = Settings()
    got = (settings.retrieval.top_k, settings.retrieval.mode, settings.ui.port)
    assert got == (8, "dense", 9000)


def test_the_home_config_file_is_read_without_being_named(isolated_home: Path) -> None:
    isolated_home.mkdir(parents=True)
    (isolated_home / "config.toml").write_text("[answer]\ndecline_below = 0.3\n")
    assert Settings().answer.decline_below == 0.3


def test_unknown_keys_and_bad_values_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[retrieval]\ntop_kk = 8\n")
    monkeypatch.setenv("PAPERCHAT_CONFIG", str(config))
    with pytest.raises(ValidationError, match="top_kk"):
        Settings()
    monkeypatch.delenv("PAPERCHAT_CONFIG")
    with pytest.raises(ValidationError, match="top_k"):
        Settings().with_overrides(retrieval={"top_k": 0})


def test_a_named_config_file_that_does_not_exist_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAPERCHAT_CONFIG", "/nowhere/paperchat.toml")
    with pytest.raises(FileNotFoundError, match=r"/nowhere/paperchat\.toml"):
        Settings()


def test_api_keys_are_secret_in_every_printout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERCHAT_ANSWER__LLM_API_KEY", "sk-very-secret")
    settings = Settings()
    assert "sk-very-secret" not in repr(settings) + str(settings.model_dump())
    assert settings.answer.llm_api_key.get_secret_value() == "sk-very-secret"


def test_the_store_defaults_to_the_user_data_folder_and_every_home_is_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PAPERCHAT_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert Settings().home == tmp_path / "data" / "paperchat"
    monkeypatch.setenv("PAPERCHAT_HOME", "relative/store")
    assert Settings().home == tmp_path / "relative" / "store"  # the tests run in tmp_path
