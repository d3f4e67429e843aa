"""A small BVH reader and vectorized forward kinematics (numpy only).

BVH in one paragraph: HIERARCHY lists joints depth-first; each has an OFFSET from its parent
(in the rest pose, whose axes are the world axes) and CHANNELS naming which values of a motion
line belong to it, in order (e.g. `Zrotation Xrotation Yrotation`). The root usually adds
`Xposition Yposition Zposition`. An `End Site` is a channel-less leaf that only marks where the
last bone ends. MOTION gives `Frames:`, `Frame Time:` and one line of channel values per frame;
rotations are in degrees.

Rotation convention (the one every BVH exporter here uses): the channels of a joint compose left
to right, so `Zrotation Xrotation Yrotation` with values (z, x, y) is R = Rz(z) @ Rx(x) @ Ry(y),
and a joint's world rotation is its parent's world rotation times its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.camera import rotation_about_x, rotation_about_y, rotation_about_z

_ROTATIONS = {"Xrotation": rotation_about_x, "Yrotation": rotation_about_y, "Zrotation": rotation_about_z}
_POSITIONS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
END_SITE_SUFFIX = "_End"  # an End Site below joint "head" is named "head_End"


class BVHError(ValueError):
    """A BVH file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class BVH:
    """A parsed BVH file. Joints (End Sites included) are in file order, so parents come first."""
    path: Path
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]            # -1 for the root
    offsets: np.ndarray                 # [J, 3] rest-pose offset from the parent, file units
    channels: tuple[tuple[str, ...], ...]  # per joint; () for End Sites
    frame_time: float                   # seconds
    motion: np.ndarray                  # [F, C] channel values, C = total number of channels

    @property
    def num_frames(self) -> int:
        return self.motion.shape[0]

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise BVHError(f"{self.path}: no joint named {name!r}") from None


@dataclass(frozen=True)
class Kinematics:
    """Result of forward kinematics, in the file's units and axes."""
    positions: np.ndarray               # [F, J, 3] world joint positions
    rotations: np.ndarray               # [F, J, 3, 3] world rotation of each joint's frame
    joint_names: tuple[str, ...]


def read_bvh(path: str | Path) -> BVH:
    """Parse a BVH file. Raises BVHError ("<file>:<line>: what is wrong") on malformed input."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError as err:
        raise BVHError(f"{path}: cannot read BVH file ({err.strerror or err})") from None

    def fail(line_no: int, message: str) -> BVHError:
        return BVHError(f"{path}:{line_no}: {message}")

    # Tokens with their line numbers, up to the MOTION keyword; tolerant of any whitespace layout.
    tokens: list[tuple[str, int]] = []
    motion_line = None
    for i, line in enumerate(lines, start=1):
        words = line.split()
        if words and words[0] == "MOTION":
            motion_line = i
            break
        tokens.extend((w, i) for w in words)
    if not tokens or tokens[0][0] != "HIERARCHY":
        raise fail(tokens[0][1] if tokens else 1, "expected HIERARCHY at the start of a BVH file")
    last_line = tokens[-1][1]

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    stack: list[int] = []      # joints whose '{' is open
    pos = 1

    def take(expected: str | None = None) -> tuple[str, int]:
        nonlocal pos
        if pos >= len(tokens):
            raise fail(last_line, "file ends inside HIERARCHY (missing '}' or MOTION)")
        tok, ln = tokens[pos]
        if expected is not None and tok != expected:
            raise fail(ln, f"expected {expected!r}, found {tok!r}")
        pos += 1
        return tok, ln

    def take_floats(n: int, what: str) -> list[float]:
        values = []
        for _ in range(n):
            tok, ln = take()
            try:
                values.append(float(tok))
            except ValueError:
                raise fail(ln, f"{what}: {tok!r} is not a number") from None
        return values

    while pos < len(tokens):
        tok, ln = take()
        if tok in ("ROOT", "JOINT") or (tok == "End" and pos < len(tokens) and tokens[pos][0] == "Site"):
            if tok == "ROOT" and names:
                raise fail(ln, "more than one ROOT is not supported")
            if tok != "ROOT" and not stack:
                raise fail(ln, f"{tok} outside of a ROOT")
            if tok == "End":
                take("Site")
                name = names[stack[-1]] + END_SITE_SUFFIX
            else:
                name, _ = take()
            take("{")
            names.append(name)
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
            stack.append(len(names) - 1)
            if tok == "End":
                continue
        elif tok == "OFFSET":
            if not stack:
                raise fail(ln, "OFFSET outside of a joint")
            offsets[stack[-1]] = take_floats(3, "OFFSET")
        elif tok == "CHANNELS":
            if not stack:
                raise fail(ln, "CHANNELS outside of a joint")
            count_tok, _ = take()
            if not count_tok.isdigit():
                raise fail(ln, f"CHANNELS count {count_tok!r} is not a whole number")
            names_here = tuple(take()[0] for _ in range(int(count_tok)))
            for c in names_here:
                if c not in _ROTATIONS and c not in _POSITIONS:
                    raise fail(ln, f"unknown channel {c!r} (expected X/Y/Z rotation or position)")
            channels[stack[-1]] = names_here
        elif tok == "}":
            if not stack:
                raise fail(ln, "unbalanced '}'")
            stack.pop()
        else:
            raise fail(ln, f"unexpected {tok!r} in HIERARCHY")
    if not names:
        raise fail(last_line, "HIERARCHY has no ROOT")
    if stack:
        raise fail(last_line, f"joint {names[stack[-1]]!r} is not closed with '}}'")
    if motion_line is None:
        raise fail(len(lines), "no MOTION section (file truncated?)")

    # MOTION header
    def header(line_no: int, key: str) -> str:
        if line_no > len(lines):
            raise fail(len(lines), f"file ends before the {key!r} line")
        text = lines[line_no - 1].strip()
        if not text.startswith(key):
            raise fail(line_no, f"expected {key!r}, found {text[:40]!r}")
        return text[len(key):].strip()

    try:
        frames = int(header(motion_line + 1, "Frames:"))
    except ValueError:
        raise fail(motion_line + 1, "Frames: is not a whole number") from None
    try:
        frame_time = float(header(motion_line + 2, "Frame Time:"))
    except ValueError:
        raise fail(motion_line + 2, "Frame Time: is not a number") from None
    if frames < 1 or not frame_time > 0:
        raise fail(motion_line + 1, f"need at least one frame and a positive frame time "
                                    f"(got Frames: {frames}, Frame Time: {frame_time})")

    num_channels = sum(len(c) for c in channels)
    first = motion_line + 2          # 0-based index of the first motion line
    body = [ln for ln in lines[first:first + frames]]
    try:
        motion = np.array(" ".join(body).split(), dtype=np.float64)
    except ValueError:
        motion = None
    if motion is None or motion.size != frames * num_channels:
        # Slow path, only for broken files: find the first bad line to name it.
        for k, text in enumerate(body):
            values = text.split()
            if len(values) != num_channels:
                raise fail(first + k + 1, f"motion line has {len(values)} values, expected {num_channels}")
            try:
                [float(v) for v in values]
            except ValueError:
                raise fail(first + k + 1, "motion line holds a value that is not a number") from None
        raise fail(len(lines), f"truncated: Frames: says {frames} but only {len(body)} motion lines follow")
    motion = motion.reshape(frames, num_channels)
    if not np.isfinite(motion).all():
        bad = int(np.nonzero(~np.isfinite(motion).all(axis=1))[0][0])
        raise fail(first + bad + 1, "motion line holds a non-finite value")
    return BVH(path=path, joint_names=tuple(names), parents=tuple(parents),
               offsets=np.asarray(offsets, dtype=np.float64), channels=tuple(channels),
               frame_time=frame_time, motion=motion)


def forward_kinematics(bvh: BVH, frames: np.ndarray | slice | None = None) -> Kinematics:
    """World positions and rotations of every joint for the selected frames (default: all).

    Position channels add to the joint's OFFSET (the root's offset is zero in practice).
    """
    motion = bvh.motion if frames is None else bvh.motion[frames]
    n = motion.shape[0]
    num_joints = len(bvh.joint_names)
    positions = np.zeros((n, num_joints, 3))
    rotations = np.zeros((n, num_joints, 3, 3))
    column = 0
    for j, (parent, chans) in enumerate(zip(bvh.parents, bvh.channels)):
        local_t = np.broadcast_to(bvh.offsets[j], (n, 3)).copy()
        local_r = np.broadcast_to(np.eye(3), (n, 3, 3))
        for name in chans:
            values = motion[:, column]
            column += 1
            if name in _POSITIONS:
                local_t[:, _POSITIONS[name]] += values
            else:
                local_r = local_r @ _ROTATIONS[name](np.deg2rad(values))
        if parent < 0:
            positions[:, j] = local_t
            rotations[:, j] = local_r
        else:
            parent_r = rotations[:, parent]
            positions[:, j] = positions[:, parent] + np.einsum("nij,nj->ni", parent_r, local_t)
            rotations[:, j] = parent_r @ local_r
    return Kinematics(positions=positions, rotations=rotations, joint_names=bvh.joint_names)
