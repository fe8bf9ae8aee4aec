"""The kiosk: the Kivy window and what it shows; UI only (the terminal is app/services/terminal.py).

- `app.py`: the KioskApp, whose Kivy properties the screens bind to, set from the terminal's events.
- `flow.py`: the clock-in state machine (no Kivy: tested without a window).
- `overlay.py`: face boxes and names drawn onto the frame.
- `screens/`, `widgets/`: one .py and one .kv each.
- `window.py`: Kivy's settings, applied before Kivy is imported; `probe.py`: the UI thread's frame timing;
  `texts.py`: the kiosk's texts.
- `runner.py`: `daka run`, a composition root: it builds the terminal, adds the admin server
  (the only module here importing `admin`) and opens the window.
"""
