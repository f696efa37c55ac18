"""Summarise a py-spy raw profile (collapsed stacks): where the samples are, by function.

python -m bench.profile_summary /tmp/profile/cost-1p.txt [--top 30] [--match koppel]
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--top", type=int, default=30, show_default=True)
@click.option("--match", default="", help="Only frames whose text contains this.")
def main(path: Path, top: int, match: str) -> None:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue  # a frame whose text holds a newline (a thread's name) split its line
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        total += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            if match in frame:
                inclusive[frame] += count
    print(f"{total} samples")
    print("\n# inclusive (the frame or anything it called)")
    for frame, count in inclusive.most_common(top):
        print(f"{100 * count / total:5.1f}%  {frame}")
    print("\n# self (the frame itself)")
    for frame, count in own.most_common(top):
        print(f"{100 * count / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
