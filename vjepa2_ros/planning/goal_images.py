"""Goal images from files: a folder of PNG/JPEG images, loaded in name order as sub-goals."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class GoalImageError(ValueError):
    """A goal image or folder cannot be used; the message says which file and why."""


def load_rgb(path: str | Path) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image from a file."""
    import cv2

    path = Path(path)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise GoalImageError(f"cannot read goal image {path}: not an image file OpenCV can decode")
    return np.ascontiguousarray(bgr[..., ::-1])


def save_rgb(path: str | Path, rgb: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise GoalImageError(f"cannot write image {path}")


def load_goal_folder(folder: str | Path) -> list[tuple[str, np.ndarray]]:
    """(name, RGB image) for every image in `folder`, sorted by file name."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise GoalImageError(f"goal_dir {folder} is not a folder: pass a folder of goal images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GoalImageError(
            f"goal_dir {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}): add e.g. "
            "01_grasp.png, 02_place.png"
        )
    return [(p.name, load_rgb(p)) for p in files]
