#!/usr/bin/env hython
"""Fake of Houdini's stock $HFS/bin/hrender.py (tests only), run by the fake hython.

It follows the stock script's documented argparse interface and behaviour:
  hrender [options] driver|cop file.hip [imagefile]     single (current) frame
  hrender -e [options] driver|cop file.hip              frame range (-f START END, -i STEP)
Bad arguments print "Error: ..." and the usage on stderr and exit 1. -o only sets the Mantra parm
vm_picture (so it crashes with a traceback on other ROPs, like the real one). Load warnings are printed
and ignored. The script ends without sys.exit: a ROP that failed inside render() still exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys

import hou

USAGE = """\
Usage:
Single frame:  hrender    [options] driver|cop file.hip [imagefile]
Frame range:   hrender -e [options] driver|cop file.hip

driver|cop:    -c /img/imgnet
               -c /img/imgnet/cop_name
               -d output_driver

options:       -w pixels       Output width
               -h pixels       Output height
               -F frame        Single frame
               -b fraction     Image processing fraction (0.01 to 1.0)
               -t take         Render a specified take
               -o output       Output name specification
               -v              Run in verbose mode
               -I              Interleaved, hscript render -I

with \"-e\":     -f start end    Frame range start and end
               -i increment    Frame increment

Notes:  1)  For output name use $F to specify frame number (e.g. -o $HIP/render/plane.$F4.pic).
        2)  If only one of width (-w) or height (-h) is specified, aspect ratio is maintained.
        3)  Either -c or -d option must be specified but not both.
"""


def error(message: str) -> None:
    sys.stderr.write(f"Error: {message}\n*****\n")
    sys.stderr.write(USAGE)
    sys.exit(1)


def parse(argv: list[str]) -> argparse.Namespace:
    if not argv or argv[0] == "-":
        sys.stderr.write(USAGE)
        sys.exit(1)
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-c", dest="c_option")
    parser.add_argument("-d", dest="d_option")
    parser.add_argument("-e", dest="e_option", action="store_true")
    parser.add_argument("-f", dest="frame_range", nargs=2, type=float)
    parser.add_argument("-i", dest="i_option", type=int)
    parser.add_argument("-F", dest="F_option", type=float)
    parser.add_argument("-w", dest="w_option", type=int)
    parser.add_argument("-h", dest="h_option", type=int)
    parser.add_argument("-o", dest="o_option")
    parser.add_argument("-b", dest="b_option", type=float)
    parser.add_argument("-t", dest="t_option")
    parser.add_argument("-v", dest="v_option", action="store_true")
    parser.add_argument("-I", dest="I_option", action="store_true")
    parser.add_argument("-R", dest="renderonly", action="store_true")
    parser.add_argument("-j", dest="threads", type=int)
    parser.add_argument("file", nargs="*")
    try:
        args, unknown = parser.parse_known_args(argv)
    except SystemExit:
        error("Invalid arguments.")
        raise
    if unknown:
        error("Unknown argument(s): " + " ".join(unknown))
    return args


def check(args: argparse.Namespace) -> None:
    hips = [f for f in args.file if os.path.splitext(f)[1] in (".hip", ".hipnc", ".hiplc")]
    if not hips:
        error("Missing .hip motion file name.")
    if not os.path.isfile(hips[0]):
        error(f"Cannot find file {hips[0]}.")
    if not args.e_option and (args.frame_range is not None or args.i_option is not None):
        error("Cannot specify frame range without -e.")
    if bool(args.c_option) == bool(args.d_option):
        error("Must specify one of -c or -d.")
    if args.frame_range is not None and args.frame_range[0] > args.frame_range[1]:
        error("Start frame cannot be greater than end frame.")
    if args.i_option is not None and args.i_option < 1:
        error("Frame increment must be 1 or more.")
    if args.c_option:
        error("The fake hrender does not model COP rendering (-c).")
    args.hip = hips[0]


def set_overrides(args: argparse.Namespace, rop_node: hou.RopNode) -> None:
    if args.o_option:
        rop_node.parm("vm_picture").set(args.o_option)  # type: ignore[union-attr]
    if args.t_option:
        rop_node.parm("take").set(args.t_option)  # type: ignore[union-attr]
    if args.w_option or args.h_option:
        rop_node.parm("override_camerares").set(1)  # type: ignore[union-attr]
        rop_node.parm("res_fraction").set("specific")  # type: ignore[union-attr]
        if args.w_option:
            rop_node.parm("res_overridex").set(args.w_option)  # type: ignore[union-attr]
        if args.h_option:
            rop_node.parm("res_overridey").set(args.h_option)  # type: ignore[union-attr]


def render(args: argparse.Namespace) -> None:
    try:
        hou.hipFile.load(args.hip)
    except hou.LoadWarning as warning:
        print(warning)
    path = args.d_option if args.d_option.startswith("/") else "/out/" + args.d_option
    rop_node = hou.node(path)
    set_overrides(args, rop_node)  # type: ignore[arg-type]
    step = args.i_option or 1
    trange = rop_node.parm("trange")  # type: ignore[union-attr]
    if args.frame_range is not None:
        if trange is not None:
            trange.set(1)
        frame_range: tuple[float, ...] = (args.frame_range[0], args.frame_range[1], step)
    elif args.F_option is not None:
        if trange is not None:
            trange.set(1)
        frame_range = (args.F_option, args.F_option, step)
    else:
        if trange is not None:
            trange.set(0)
        frame_range = ()
    method = hou.renderMethod.FrameByFrame if args.I_option else hou.renderMethod.RopByRop
    rop_node.render(frame_range=frame_range, verbose=args.v_option, method=method)  # type: ignore[union-attr]


args = parse(sys.argv[1:])
check(args)
render(args)
