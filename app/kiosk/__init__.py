"""The kiosk: the terminal's composition (`Terminal`), the clock-in flow and the Kivy screens.

`terminal.py` and `flow.py` import no Kivy: the composition and the state machine are tested
without a window; `app.py` and `screens/` are the Kivy side.
"""
