"""A tiny Cycles scene for the Blender tests and captures, built by Blender's own Python.

    blender -b --factory-startup --python blender_scene.py -- OUT.blend ok|denoise SAMPLES WIDTHxHEIGHT

``denoise`` turns Cycles denoising on, which Debian's Blender build cannot do (a scene-load failure).
"""

import sys

import bpy  # type: ignore[import-not-found]  # only inside Blender

out, kind, samples, size = sys.argv[sys.argv.index("--") + 1:][:4]
width, height = (int(v) for v in size.split("x"))
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = int(samples)
scene.cycles.use_denoising = kind == "denoise"
scene.render.resolution_x, scene.render.resolution_y = width, height
scene.render.resolution_percentage = 100
scene.render.image_settings.file_format = "PNG"
bpy.ops.wm.save_as_mainfile(filepath=out)
