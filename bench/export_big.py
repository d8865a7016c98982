"""How long a big event's exports take, and how much memory they need.

Builds an event of 60 sessions with 200 flip-chart photos through the real service (the same
write path as the app), then runs `openspace export` for each format as a separate process and
reads its wall time and peak resident memory. The baseline, measured in the same run, is the
bare cost of copying the photo files once (the least any archive of them could take).
Run: .venv/bin/python -m bench.export_big
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from openspace import media
from openspace.domain.rules import Actor
from openspace.live.bus import MemoryBus
from openspace.service import Service
from openspace.store import file_store, open_store, sqlite_url
from openspace.store.sqlite_backup import photo_folder

SESSIONS, PHOTOS, SLOTS, SPACES = 60, 200, 6, 10
FORMATS = ["md", "html", "pdf", "sessions.csv", "json", "zip"]


def flipchart(seed: int) -> bytes:
    """A 3000x2000 noisy JPEG, about what a phone sends, so re-encoding does real work."""
    rng = random.Random(seed)
    image = Image.effect_noise((3000, 2000), 60).convert("RGB")
    image.paste((rng.randrange(256), 200, 200), (100, 100, 900, 500))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


async def build(db: Path) -> str:
    store = await open_store(sqlite_url(db))
    photos = media.PhotoStore(file_store(sqlite_url(db)))
    service = Service(store, MemoryBus(), photos)
    await service.start()
    fac = Actor(facilitator=True)
    try:
        event, _ = await service.create_event(
            {"name": "Stor konferens", "starts_on": "2026-05-04", "timezone": "Europe/Stockholm", "language": "sv"}
        )
        spaces = [
            (await service.execute(event.id, fac, "space.add", {"name": f"Rum {n}", "capacity": "30"}))["space"]
            for n in range(SPACES)
        ]
        slots = [
            (
                await service.execute(
                    event.id,
                    fac,
                    "slot.add",
                    {"day": "2026-05-04", "start": f"{9 + n:02d}:00", "end": f"{9 + n:02d}:50"},
                )
            )["slot"]
            for n in range(SLOTS)
        ]
        sample = [media.process(flipchart(seed)) for seed in range(4)]
        for n in range(SESSIONS):
            topic = (
                await service.execute(
                    event.id,
                    fac,
                    "topic.propose",
                    {"title": f"Samtal {n}: bibliotek och framtid", "convener_name": "Åsa"},
                )
            )["topic"]
            await service.execute(
                event.id, fac, "topic.place", {"topic": topic, "slot": slots[n % SLOTS], "space": spaces[n // SLOTS]}
            )
            text = "\n\n".join(f"Stycke {k} om **läsning**, - listor och mer." for k in range(12))
            await service.execute(event.id, fac, "report.save", {"topic": topic, "base": "0", "discussion": text})
            for k in range(PHOTOS // SESSIONS + (1 if n < PHOTOS % SESSIONS else 0)):
                processed = sample[(n + k) % len(sample)]
                name = photos.save(processed)
                photo = {
                    "name": name,
                    "width": processed.width,
                    "height": processed.height,
                    "thumb_width": processed.thumb_width,
                    "thumb_height": processed.thumb_height,
                }
                args = {"topic": topic, "photos": [photo]}
                await service.execute(event.id, fac, "photo.add", args, internal=True)
        return event.slug
    finally:
        await service.stop()
        await store.close()


def run_export(db: Path, slug: str, fmt: str, out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `openspace export` process, measured on that child alone."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "openspace", "export", slug, "--format", fmt, "-o", str(out), "--db", str(db)]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage; ru_maxrss is in KiB on Linux
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"export {fmt} failed with {child.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "big.db"
        started = time.perf_counter()
        slug = asyncio.run(build(db))
        photo_dir = photo_folder(db)
        photo_bytes = sum(p.stat().st_size for p in photo_dir.iterdir())
        took = time.perf_counter() - started
        print(f"built {SESSIONS} sessions, {PHOTOS} photos ({photo_bytes / 2**20:.0f} MiB) in {took:.1f} s")
        copy_start = time.perf_counter()
        shutil.copytree(photo_dir, Path(tmp) / "copy")
        baseline = time.perf_counter() - copy_start
        print(f"baseline: copying the photo files once takes {baseline * 1000:.0f} ms")
        print(f"{'format':<14}{'seconds':>9}{'x baseline':>12}{'peak RSS MiB':>14}{'size MiB':>10}")
        for fmt in FORMATS:
            out = Path(tmp) / f"out.{fmt}"
            seconds, peak = run_export(db, slug, fmt, out)
            size = out.stat().st_size / 2**20
            print(f"{fmt:<14}{seconds:>9.2f}{seconds / baseline:>12.0f}{peak:>14.0f}{size:>10.1f}")
    print(f"machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
