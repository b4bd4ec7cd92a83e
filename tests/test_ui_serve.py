"""Starting the UI: safe exposure defaults, a clear page when there is no store, the Eval tab's
report, example questions. Fast: nothing here loads a model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from paperchat.cli import app as cli
from paperchat.errors import PaperchatError
from paperchat.ingest.store import StoredPaper
from paperchat.settings import Settings
from paperchat.ui.app import answerer_choices, eval_report_for, example_questions
from paperchat.ui.serve import build, check_exposure, is_loopback


def ui(**values: object) -> Settings:
    return Settings().with_overrides(ui=values)


def test_the_default_binds_loopback_and_needs_no_password() -> None:
    settings = Settings()
    assert settings.ui.host == "127.0.0.1" and settings.ui.port == 7860
    assert check_exposure(settings, share=False) is None
    assert is_loopback("localhost") and is_loopback("::1") and not is_loopback("0.0.0.0")


@pytest.mark.parametrize(("host", "share"), [("0.0.0.0", False), ("192.168.1.5", False),
                                             ("127.0.0.1", True)])
def test_exposing_the_ui_without_auth_is_refused(host: str, share: bool) -> None:
    with pytest.raises(PaperchatError, match=r"without authentication.*PAPERCHAT_UI__AUTH"):
        check_exposure(ui(host=host), share=share)


def test_exposing_the_ui_with_auth_requires_that_password() -> None:
    settings = ui(host="0.0.0.0", auth=SecretStr("ada:s3cret:x"))
    assert check_exposure(settings, share=True) == ("ada", "s3cret:x")
    with pytest.raises(PaperchatError, match="'user:password'"):
        check_exposure(ui(host="0.0.0.0", auth=SecretStr("no-colon")), share=False)


def test_serve_refuses_a_public_bind_without_auth_with_one_clear_line() -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1  # no crash
    assert result.stderr.strip().splitlines() == [
        "error: Refusing to serve on 0.0.0.0 without authentication. Set "
        "PAPERCHAT_UI__AUTH='user:password' (or ui.auth in the config file), or bind 127.0.0.1."]


def test_a_refused_start_never_prints_the_password_or_api_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAPERCHAT_UI__AUTH", "hunter2-secret")  # malformed: no user part
    monkeypatch.setenv("PAPERCHAT_ANSWER__LLM_API_KEY", "sk-very-secret")
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1
    assert "'user:password'" in result.stderr
    assert "hunter2" not in result.output and "sk-very-secret" not in result.output


def test_serve_rejects_an_impossible_port() -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "0"])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 2
    assert "Invalid value for '--port'" in result.stderr


def test_a_missing_store_gives_a_page_that_says_how_to_build_it(isolated_home: Path) -> None:
    app = build(Settings())
    texts = [c["props"].get("value") or "" for c in app.get_config_file()["components"]
             if c["type"] == "markdown"]
    page = "\n".join(texts)
    assert f"No paper store at {isolated_home}" in page
    assert "Build the store from the bundled corpus with `paperchat ingest`" in page


def test_the_eval_tab_shows_the_latest_report_and_its_plots(tmp_path: Path) -> None:
    folder = tmp_path / "eval" / "latest"
    text, plots = eval_report_for(folder)
    assert "paperchat eval" in text and plots == []

    from PIL import Image

    folder.mkdir(parents=True)
    (folder / "report.md").write_text("# Eval\n\n| metric | value |\n|---|---|\n| recall@5 | 0.9 |"
                                      "\n\n![recall per system](recall.png)\n\n![gone](gone.png)")
    Image.new("RGB", (8, 8), "red").save(folder / "recall.png")
    text, plots = eval_report_for(folder)
    assert text.startswith("# Eval") and plots == [(str(folder / "recall.png"), "recall")]
    # The report's relative link becomes Gradio's file route for the plot (relative to the
    # page); a link to a file that is not there is left alone.
    link = re.search(r"!\[recall per system\]\((gradio_api/file=[^)?]+)\?v=\d+\)", text)
    assert link and link.group(1) == f"gradio_api/file={folder.resolve() / 'recall.png'}"
    assert "![gone](gone.png)" in text


def test_example_questions_come_from_named_papers_in_the_corpus() -> None:
    papers = {
        "b": StoredPaper("b", "TPI-LLM: Serving 70B-scale LLMs on Edge Devices", "..."),
        "a": StoredPaper("a", "KIVI: A Tuning-Free 2bit KV Cache Quantization", "..."),
        "c": StoredPaper("c", "Scaling Laws for Downstream Tasks", "..."),
    }
    assert example_questions(papers) == ["What does KIVI do?", "What does TPI-LLM do?",
                                         "Compare KIVI and TPI-LLM"]


def test_the_answerer_choice_offers_the_configured_llm_and_extractive() -> None:
    assert answerer_choices(Settings()) == ["extractive"]
    llm = Settings().with_overrides(answer={"answerer": "openai", "llm_model": "m"})
    assert answerer_choices(llm) == ["openai", "extractive"]


@pytest.mark.parametrize(("auth", "mcp"), [(None, True), ("ada:s3cret", False)])
def test_the_mcp_server_is_on_unless_a_login_is_required(auth: str | None, mcp: bool) -> None:
    """Gradio's MCP endpoint has no login, and its tool calls fail behind one."""
    import socket

    from paperchat.ui.serve import launch, unavailable_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    settings = ui(auth=SecretStr(auth)) if auth else Settings()
    app = unavailable_app("no store", "build one")
    launch(app, settings, block=False, port=port, quiet=True)
    try:
        assert app.mcp_server is mcp
    finally:
        app.close()
