"""People and robot arms: articulated figures built from shaded tubes and discs (background)."""

from __future__ import annotations

import numpy as np

from ml.synth.objects import Canvas
from ml.synth.paint import as_colour, paint_disc, paint_lines, paint_poly, paint_tube

SKIN = [(230, 190, 160), (200, 150, 115), (160, 110, 80), (110, 75, 55), (240, 205, 180)]
TOPS = [
    (30, 30, 35),
    (40, 50, 90),
    (120, 120, 125),
    (170, 40, 40),
    (230, 230, 228),
    (60, 90, 60),
    (90, 60, 110),
]
TROUSERS = [(30, 30, 35), (40, 55, 95), (70, 90, 130), (150, 130, 100), (60, 60, 60)]
HI_VIS = [(215, 235, 45), (250, 135, 30)]
HATS = [(240, 240, 235), (235, 200, 30), (245, 120, 30), (40, 80, 170)]
ROBOT_COLOURS = [
    (240, 120, 20),
    (235, 200, 25),
    (235, 235, 230),
    (190, 195, 200),
    (60, 60, 65),
    (200, 40, 35),
]


def _bend(start: np.ndarray, angle: float, length: float) -> np.ndarray:
    """End of a limb of ``length`` from ``start`` at ``angle`` radians from straight down (positive: to the right)."""
    return start + length * np.array([np.sin(angle), np.cos(angle)])


def paint_person(canvas: Canvas, rng: np.random.Generator, foot: tuple[float, float], height: float) -> None:
    """A standing, walking or reaching worker, feet at ``foot`` (x, y px), ``height`` px tall."""
    h = height
    fx, fy = foot
    facing = rng.uniform(0.45, 1.0)  # 1: facing the camera, smaller: turned aside
    skin = as_colour(SKIN[int(rng.integers(len(SKIN)))])
    top = as_colour(TOPS[int(rng.integers(len(TOPS)))])
    legs = as_colour(TROUSERS[int(rng.integers(len(TROUSERS)))])
    vest = as_colour(HI_VIS[int(rng.integers(len(HI_VIS)))]) if rng.random() < 0.6 else None
    hip = np.array([fx, fy - 0.5 * h])
    neck = np.array([fx + rng.normal(0, 0.02) * h, fy - 0.82 * h])
    half_hip, half_sh = 0.07 * h * facing, 0.13 * h * facing
    stride = rng.uniform(0, 0.45)
    swing = rng.uniform(-0.6, 0.6)
    shoes = (30, 28, 26) if rng.random() < 0.7 else (200, 200, 200)
    for side, sign in ((1, 1.0), (-1, -1.0)):  # legs: thigh, shin, shoe
        h_joint = hip + (side * half_hip, 0)
        knee = _bend(h_joint, sign * stride, 0.25 * h)
        ankle = _bend(knee, sign * stride * rng.uniform(0.2, 1.2) - 0.05 * sign, 0.23 * h)
        paint_tube(canvas, h_joint, knee, 0.05 * h, legs, 0.1)
        paint_tube(canvas, knee, ankle, 0.043 * h, legs * 0.95, 0.1)
        paint_tube(
            canvas,
            ankle,
            ankle + (0.05 * h * rng.choice([-1, 1]) * (1.1 - facing), 0.012 * h),
            0.025 * h,
            shoes,
            0.2,
        )
    torso = np.array(
        [
            neck + (-half_sh, 0.02 * h),
            neck + (half_sh, 0.02 * h),
            hip + (half_hip * 1.3, 0.03 * h),
            hip + (-half_hip * 1.3, 0.03 * h),
        ]
    )
    paint_poly(canvas, [torso], top, ramp=(0.25, 0.1))
    if vest is not None:
        inset = np.array([[0.3, 0.0], [-0.3, 0.0], [0.0, 0.0], [0.0, 0.0]]) * half_sh
        paint_poly(canvas, [torso + inset + (0, 0.01 * h)], vest, ramp=(0.2, 0.1))
        for t in (0.55, 0.8):
            y = neck[1] + t * (hip[1] - neck[1])
            paint_lines(
                canvas,
                np.array([[fx - half_sh * 0.95, y], [fx + half_sh * 0.95, y]]),
                (205, 205, 200),
                max(1, int(0.018 * h)),
            )
    for side in (1, -1):  # arms: upper arm, forearm, hand
        shoulder = neck + (side * half_sh * 0.95, 0.03 * h)
        reach = rng.random() < 0.2
        upper_angle = side * rng.uniform(0.05, 0.3) + (
            rng.uniform(2.0, 2.8) * side if reach else swing * side
        )
        elbow = _bend(shoulder, upper_angle, 0.17 * h)
        hand = _bend(elbow, upper_angle + side * rng.uniform(-0.2, 1.2), 0.16 * h)
        sleeve = top if rng.random() < 0.7 or vest is None else skin
        paint_tube(canvas, shoulder, elbow, 0.036 * h, top, 0.1)
        paint_tube(canvas, elbow, hand, 0.03 * h, sleeve, 0.1)
        paint_disc(canvas, hand, 0.028 * h, skin if rng.random() < 0.6 else (40, 40, 45))
    head = neck + (0, -0.08 * h)
    paint_tube(canvas, neck + (0, 0.02 * h), head, 0.03 * h, skin, 0.05)
    paint_disc(canvas, head, 0.065 * h, skin, 0.15)
    if rng.random() < 0.5:  # hard hat with brim
        hat = as_colour(HATS[int(rng.integers(len(HATS)))])
        r = 0.07 * h
        phi = np.linspace(np.pi, 2 * np.pi, 12)
        dome = np.stack([head[0] + r * np.cos(phi), head[1] - 0.01 * h + r * np.sin(phi)], 1)
        paint_poly(canvas, [dome], hat, ramp=(0.3, 0.2))
        paint_lines(
            canvas,
            np.array([[head[0] - r * 1.2, head[1] - 0.01 * h], [head[0] + r * 1.2, head[1] - 0.01 * h]]),
            hat * 0.85,
            max(1, int(0.012 * h)),
        )
    else:  # hair
        hair = as_colour([(30, 25, 20), (90, 60, 35), (160, 130, 90), (120, 120, 120)][int(rng.integers(4))])
        r = 0.067 * h
        phi = np.linspace(np.pi * 0.95, 2.05 * np.pi, 14)
        paint_poly(
            canvas, [np.stack([head[0] + r * np.cos(phi), head[1] + r * np.sin(phi) + 0.01 * h], 1)], hair
        )


def paint_person_above(canvas: Canvas, rng: np.random.Generator, centre, size: float) -> None:
    """A worker seen from a ceiling camera: shoulders, arms and head (``size`` = shoulder width px)."""
    c = np.asarray(centre, dtype=np.float64)
    angle = rng.uniform(0, np.pi)
    axis = np.array([np.cos(angle), np.sin(angle)])
    ahead = np.array([-axis[1], axis[0]])
    top = as_colour(
        HI_VIS[int(rng.integers(2))] if rng.random() < 0.5 else TOPS[int(rng.integers(len(TOPS)))]
    )
    for side in (1, -1):
        shoulder = c + side * axis * size * 0.42
        hand = shoulder + ahead * size * rng.uniform(-0.2, 0.7) + side * axis * size * rng.uniform(0, 0.2)
        paint_tube(canvas, shoulder, hand, size * 0.1, top * 0.9, 0.1)
        paint_disc(canvas, hand, size * 0.08, SKIN[int(rng.integers(len(SKIN)))])
    paint_tube(canvas, c - axis * size * 0.38, c + axis * size * 0.38, size * 0.2, top, 0.15)
    head = as_colour(HATS[int(rng.integers(len(HATS)))] if rng.random() < 0.5 else (40, 32, 25))
    paint_disc(canvas, c + ahead * size * 0.05, size * 0.17, head, 0.35)


def paint_robot_arm(
    canvas: Canvas, rng: np.random.Generator, base: tuple[float, float], reach: float
) -> None:
    """An industrial arm side-on: pedestal, turret, shoulder, two links, wrist and a gripper or suction tool."""
    colour = as_colour(ROBOT_COLOURS[int(rng.integers(len(ROBOT_COLOURS)))])
    joint_colour = colour * 0.75 if rng.random() < 0.6 else as_colour((70, 72, 75))
    bx, by = base
    pedestal_h = reach * rng.uniform(0.1, 0.35)
    pw = reach * 0.16
    paint_poly(
        canvas,
        [
            np.array(
                [
                    [bx - pw, by - pedestal_h],
                    [bx + pw, by - pedestal_h],
                    [bx + pw * 1.1, by],
                    [bx - pw * 1.1, by],
                ]
            )
        ],
        (110, 112, 115),
        ramp=(0.3, 0.05),
    )
    turret_top = by - pedestal_h - reach * 0.18
    paint_tube(canvas, (bx, by - pedestal_h), (bx, turret_top), reach * 0.11, colour, 0.3, caps=False)
    shoulder = np.array([bx, turret_top])
    side = rng.choice([-1.0, 1.0])
    a1 = side * rng.uniform(1.9, 2.9)  # from straight down: ~pi is straight up
    elbow = _bend(shoulder, a1, reach * rng.uniform(0.42, 0.55))
    a2 = a1 + side * rng.uniform(0.5, 2.0)
    wrist = _bend(elbow, a2, reach * rng.uniform(0.38, 0.5))
    paint_tube(canvas, shoulder, elbow, reach * 0.075, colour, 0.35)
    if rng.random() < 0.7:  # dress pack: a cable bundle along the links
        mid = (shoulder + elbow) / 2 + rng.normal(0, reach * 0.05, 2)
        paint_lines(
            canvas,
            np.array([shoulder, mid, elbow, (elbow + wrist) / 2]),
            (30, 30, 32),
            max(2, int(reach * 0.02)),
        )
    paint_disc(canvas, shoulder, reach * 0.1, joint_colour, 0.3)
    paint_tube(canvas, elbow, wrist, reach * 0.055, colour, 0.35)
    paint_disc(canvas, elbow, reach * 0.075, joint_colour, 0.3)
    paint_disc(canvas, wrist, reach * 0.045, joint_colour, 0.3)
    tool_dir = rng.uniform(-0.5, 0.5)  # tool points roughly down
    flange = _bend(wrist, tool_dir, reach * 0.08)
    paint_tube(canvas, wrist, flange, reach * 0.03, (150, 150, 155), 0.5)
    if rng.random() < 0.5:  # suction cups
        cross = np.array([np.cos(tool_dir), -np.sin(tool_dir)])
        for k in (-1, 0, 1):
            cup = flange + cross * k * reach * 0.05
            paint_tube(canvas, cup, _bend(cup, tool_dir, reach * 0.05), reach * 0.018, (40, 40, 42), 0.2)
    else:  # parallel gripper fingers
        cross = np.array([np.cos(tool_dir), -np.sin(tool_dir)])
        opening = reach * rng.uniform(0.02, 0.06)
        for k in (-1, 1):
            root = flange + cross * k * opening
            paint_tube(
                canvas,
                root,
                _bend(root, tool_dir, reach * 0.09),
                reach * 0.014,
                (90, 92, 95),
                0.4,
                caps=False,
            )


def paint_robot_above(canvas: Canvas, rng: np.random.Generator, base, reach: float) -> None:
    """An arm seen from above: base disc, two links and joints, the tool at the end."""
    colour = as_colour(ROBOT_COLOURS[int(rng.integers(len(ROBOT_COLOURS)))])
    b = np.asarray(base, dtype=np.float64)
    paint_disc(canvas, b, reach * 0.16, (100, 102, 105), 0.2)
    a1 = rng.uniform(0, 2 * np.pi)
    elbow = b + reach * 0.5 * np.array([np.cos(a1), np.sin(a1)])
    a2 = a1 + rng.uniform(-2.2, 2.2)
    wrist = elbow + reach * 0.45 * np.array([np.cos(a2), np.sin(a2)])
    paint_tube(canvas, b, elbow, reach * 0.08, colour, 0.35)
    paint_disc(canvas, b, reach * 0.11, colour * 0.8, 0.3)
    paint_tube(canvas, elbow, wrist, reach * 0.06, colour, 0.35)
    paint_disc(canvas, elbow, reach * 0.085, colour * 0.8, 0.3)
    paint_disc(canvas, wrist, reach * 0.05, (60, 60, 62), 0.4)
