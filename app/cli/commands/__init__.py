"""The `daka` subcommands, one module per topic.

Each module has ``register(sub, ...)``, which adds its parsers and binds each one to the function
that runs it (``set_defaults(handler=...)``); app/cli/main.py assembles them and dispatches.

Imports that load numpy, OpenCV, ONNX Runtime, SQLAlchemy, Flask or Kivy stay inside the command
functions, marked ``# lazy``: `daka --help` and the light commands (doctor, hw, models list) would
otherwise pay for all of them (~0.15 s would become several seconds). Everything else is imported at
module top.
"""
