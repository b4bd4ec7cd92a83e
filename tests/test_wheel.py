"""paperchat as a user installs it: a wheel with one top-level name, installed non-editable into a
fresh virtual environment and run from another folder, with the store in the user data folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .conftest import FIXTURES, ROOT

pytestmark = pytest.mark.slow


def _source_copy(dest: Path) -> Path:
    """The project's files as git sees them (tracked, or new and not ignored): a stale build/
    folder or an egg-info in the checkout cannot leak into the wheel."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = _source_copy(work / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(work / "dist"), str(source)],
                   check=True, capture_output=True, text=True)
    (built,) = (work / "dist").glob("paperchat-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding paperchat from the wheel, not editable. Its dependencies are seen
    through a .pth line naming this interpreter's site-packages, so that the test does not
    download and install torch again; paperchat itself is found only in the new venv."""
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, text=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "paperchat-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_wheel_installs_one_top_level_name_with_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"paperchat", wheel.name.split("-")[0]
                                               + "-" + wheel.name.split("-")[1] + ".dist-info"}
    assert "paperchat/eval/datasets/test.jsonl" in names
    assert "paperchat/rag/answerability_model.json" in names
    assert sum(n.startswith("paperchat/corpus/") and n.endswith(".txt") for n in names) == 5
    assert not any(n.startswith(("ingest/", "rag/", "ui/", "eval/", "tests/")) for n in names)


def test_installed_wheel_ingests_asks_and_evals_from_another_folder(
    fresh_venv: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "eval").mkdir()  # a folder named like one of ours must not shadow it
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERCHAT_")}
    env |= {"XDG_DATA_HOME": str(tmp_path / "data-home"), "HF_HUB_OFFLINE": "1"}
    env["PAPERCHAT_INGEST__CACHE_DIR"] = os.environ.get("PAPERCHAT_INGEST__CACHE_DIR", "") or \
        str(tmp_path / "cache")

    def paperchat(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(fresh_venv / "bin" / "paperchat"), *args], cwd=elsewhere,
                              env=env, capture_output=True, text=True, timeout=600)

    where = subprocess.run([str(fresh_venv / "bin" / "python"), "-c",
                            "import paperchat.eval.run as m; print(m.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(fresh_venv)), where.stdout

    missing = paperchat("ask", "What is MiniCPM?")
    store = tmp_path / "data-home" / "paperchat"
    assert missing.returncode == 1 and f"No paper store at {store}" in missing.stderr
    assert "`paperchat ingest`" in missing.stderr

    ingested = paperchat("ingest", "--json", "-q", str(FIXTURES / "tiny"))
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["added"] >= 6 and (store / "chroma").is_dir()

    asked = paperchat("ask", "--json", "What does MiniCPM train, and how?")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["coverage"] == "answered" and "[1]" in answer["answer"]
    assert "MiniCPM" in answer["citations"][0]["title"]

    bundled = paperchat("ingest", "--json", "-q")  # no path: the corpus shipped in the wheel
    assert bundled.returncode == 0, bundled.stderr
    assert json.loads(bundled.stdout)["papers"] == 624
    evaluated = paperchat("eval", "--split", "test", "--limit", "5")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "test" in evaluated.stdout and (store / "eval").is_dir()
