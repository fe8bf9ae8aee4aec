"""The services floor: what a running terminal is made of, with no Kivy and no Flask.

- `compose`: one recipe each for the parts (models, face library, vision pipeline, attendance),
  used by the terminal, the standalone admin and the CLI.
- `terminal`: the Terminal, which starts, runs and stops those parts together.
- `events`: what the terminal tells its clients (cards, vision updates).
- `cards`: staff cards (name, staff no, photo thumbnail) for recognised faces, cached.
- `status`: the status board (what the admin's status page and the kiosk's status bar show).
- `selfcheck`: every self-check, used by `daka doctor`, `daka hw test` and the on-device 自检.
- `settings`: the run-time settings registry (the one file to add a setting an admin may change
  while the terminal runs) and the service that stores them and pushes changes to subscribers.
"""
