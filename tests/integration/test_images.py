"""Each Docker image's runtime tree, rebuilt here the way its Dockerfile builds it, and every
entry point run from it. There is no container engine on this machine: the test reads the
Dockerfile's instructions and carries them out under a temporary root, with the same paths
and the same uv command, then throws away everything the final stage does not copy (as a
multi-stage build does) before running the image's programs.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(
    path.relative_to(ROOT)
    for path in (*ROOT.glob("services/*/Dockerfile"), ROOT / "sandbox" / "Dockerfile")
)
UV = ROOT / ".tools" / "bin" / "uv"
GIT = shutil.which("git") or "git"
BASH = shutil.which("bash") or "/bin/bash"


@dataclass
class Stage:
    """One FROM ... stage: what it copies, runs, sets and starts."""

    name: str | None
    workdir: str = "/"
    steps: list[tuple[str, str]] = field(default_factory=list)  # (instruction, argument)
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    entrypoint: list[str] = field(default_factory=list)
    healthcheck: str | None = None


def parse(dockerfile: Path) -> list[Stage]:
    """The instructions this test understands; any other one fails the test loudly."""
    stages: list[Stage] = []
    for raw in (ROOT / dockerfile).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, argument = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = argument.split()
            stages.append(Stage(name=words[2] if len(words) == 3 else None))
            continue
        stage = stages[-1]
        if instruction == "WORKDIR":
            stage.workdir = argument
        elif instruction in ("COPY", "RUN"):
            stage.steps.append((instruction, argument))
        elif instruction == "ENV":
            for pair in shlex.split(argument):
                key, _, value = pair.partition("=")
                stage.env[key] = value
        elif instruction == "USER":
            stage.user = argument
        elif instruction == "ENTRYPOINT":
            stage.entrypoint = json.loads(argument)
        elif instruction == "HEALTHCHECK":
            stage.healthcheck = argument
        elif instruction not in ("CMD", "EXPOSE"):
            raise AssertionError(f"{dockerfile}: this test does not understand {instruction}")
    return stages


def under(root: Path, path: str, workdir: str) -> Path:
    """An image path (absolute, or relative to WORKDIR) under the temporary root."""
    absolute = path if path.startswith("/") else f"{workdir.rstrip('/')}/{path}"
    return root / absolute.lstrip("/")


def build_stage(stage: Stage, root: Path) -> None:
    """Carry out a build stage: copy the repository, run its commands with the real uv."""
    workdir = under(root, stage.workdir, "/")
    workdir.mkdir(parents=True, exist_ok=True)
    for instruction, argument in stage.steps:
        if instruction == "COPY":
            assert argument == ". .", f"build stage copies the repository, not {argument!r}"
            tracked = subprocess.run(
                [GIT, "ls-files", "-co", "--exclude-standard"],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            for name in tracked:
                if (ROOT / name).is_file():
                    (workdir / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / name, workdir / name)
        elif argument.startswith("pip install") and "uv==" in argument:
            continue  # the same uv is already here, in .tools/
        else:
            env = {
                **os.environ,
                "PATH": f"{UV.parent}:{os.environ['PATH']}",
                "UV_PYTHON": sys._base_executable,  # the image's python, here this machine's
            }
            env.pop("VIRTUAL_ENV", None)
            done = subprocess.run(
                [BASH, "-c", argument], cwd=workdir, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr[-2000:]


def final_tree(stage: Stage, root: Path) -> None:
    """Keep only what the final stage copies from the build stage, at the paths it names."""
    kept = root.parent / "kept"
    copies = []
    for instruction, argument in stage.steps:
        what = f"{instruction} {argument}"
        assert instruction == "COPY", f"the final stage only copies, it does not {what}"
        assert argument.startswith("--from="), f"the final stage copies only a build: {what}"
        source, target = argument.split()[1:]
        staged = kept / str(len(copies))
        shutil.copytree(under(root, source, "/"), staged, symlinks=True)
        copies.append((staged, target))
    shutil.rmtree(root)  # the build stage is not in the image
    for staged, target in copies:
        destination = under(root, target, stage.workdir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staged, destination)


def image_path(stage: Stage, root: Path) -> str:
    """The final stage's PATH, its image directories under the temporary root."""
    parts = stage.env.get("PATH", "$PATH").split(":")
    return ":".join(
        os.environ["PATH"] if part == "$PATH" else str(under(root, part, "/")) for part in parts
    )


@pytest.mark.timeout(600)
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[p.parent.name for p in DOCKERFILES])
def test_every_entry_point_of_the_image_starts(dockerfile: Path, tmp_path: Path) -> None:
    stages = parse(dockerfile)
    assert len(stages) == 2, "a build stage and a runtime stage"
    build, final = stages
    root = tmp_path / "root"
    build_stage(build, root)
    final_tree(final, root)

    assert final.entrypoint, "the image names its program"
    path = image_path(final, root)
    program = shutil.which(final.entrypoint[0], path=path)
    assert program is not None, f"{final.entrypoint[0]} is not on the image's PATH"
    bin_dir = Path(program).parent
    scripts = sorted(p for p in bin_dir.iterdir() if p.name.startswith("palaute"))
    assert Path(program) in scripts
    for script in scripts:
        try:
            done = subprocess.run(
                [str(script), "--help"],
                env={"PATH": path, "HOME": str(tmp_path)},
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except OSError as error:  # e.g. a first line naming an interpreter that is not there
            first = script.read_text().splitlines()[0]
            pytest.fail(f"{script.name} cannot start ({error}); its first line is {first}")
        assert done.returncode == 0, f"{script.name}: {done.stderr[-1000:]}"
        assert "usage" in done.stdout.lower(), f"{script.name} --help says how to use it"
    assert final.user not in (None, "0", "root"), "the image runs as a non-root user"
    assert final.healthcheck, "the image says how to tell it is healthy"
