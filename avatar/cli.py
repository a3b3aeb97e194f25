"""The `l2t-avatar` command line: thin wrappers that parse, call the library, and report.

User errors (L2TError) print one line and exit with code 2; bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from avatar import __version__
from avatar.errors import L2TError

RIG_HELP = "rig: a FLAME .pkl (2020/2023) or an l2t-avatar rig .npz; default $L2T_FLAME_PATH, else the built-in l2t-head"


def _cmd_rig_sheet(args: argparse.Namespace) -> None:
    from avatar.rig import load_rig
    from avatar.rig.sheet import draw_rig_sheet

    rig = load_rig(args.rig)
    path = draw_rig_sheet(rig, args.output, tile=args.tile)
    print(f"wrote {path}: {rig.data.name}, neutral + jaw open + {min(rig.num_expressions, 48)} expressions, front and 3/4")


def _cmd_rig_info(args: argparse.Namespace) -> None:
    from avatar.rig import load_rig_data, resolve_rig_path

    rig = load_rig_data(args.rig)
    print(f"rig:          {rig.name} ({resolve_rig_path(args.rig)})")
    print(f"vertices:     {rig.num_vertices}")
    print(f"faces:        {len(rig.faces)}")
    print(f"joints:       {', '.join(rig.joint_names)}")
    print(f"shapes:       {len(rig.shape_names)}")
    print(f"expressions:  {len(rig.expression_names)}" + (f" ({', '.join(rig.expression_names)})" if len(rig.expression_names) <= 60 else ""))
    print(f"landmarks:    {len(rig.landmark_faces)}")
    print(f"regions:      {', '.join(f'{k} ({len(v)})' for k, v in rig.regions.items()) or 'none'}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="l2t-avatar",
        description="Speech-driven 3D Gaussian head avatars on a FLAME-format rig.",
    )
    parser.add_argument("--version", action="version", version=f"l2t-avatar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("rig-sheet", help="draw a contact sheet PNG of the rig (neutral, jaw, every expression)",
                       description="Render the rig neutral, with the jaw open and with each expression, front and 3/4 views, into one PNG.")
    p.add_argument("-o", "--output", default="rig_sheet.png", help="PNG to write (default: rig_sheet.png)")
    p.add_argument("--rig", default=None, help=RIG_HELP)
    p.add_argument("--tile", type=int, default=192, help="tile size in pixels (default: 192)")
    p.set_defaults(func=_cmd_rig_sheet)

    p = sub.add_parser("rig-info", help="print a rig's sizes, joints, expressions and regions",
                       description="Load a rig (checks a FLAME file) and print what it contains.")
    p.add_argument("--rig", default=None, help=RIG_HELP)
    p.set_defaults(func=_cmd_rig_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], None] = args.func
    try:
        func(args)
    except L2TError as exc:
        print(f"l2t-avatar {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
