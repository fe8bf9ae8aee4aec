"""The fleet (issue 20): many terminals, one central PostgreSQL database.

``central`` holds the central database's own objects (``daka fleet init``) and ``roles`` the
terminals' PostgreSQL roles (``daka fleet add-terminal``); the terminal side (the link that
mirrors the library down and sends punches up) lives beside them. Kept light: the face library
imports ``app.fleet.central`` to know whether its store is a centre, so this package must not
import ``app.library`` (the library's edge points here) nor anything heavy at import.
"""
