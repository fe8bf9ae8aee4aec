"""ZKTeco's protocols, so HR software made for ZKTeco (中控) terminals reads Daka unchanged.

- ``app.zk.adms``: the device side of the HTTP "PUSH" protocol (ADMS, ``/iclock/...``): punches and
  operation logs pushed to an ADMS server, commands polled from it.
- ``app.zk.pull``: the binary "pull" protocol on TCP/UDP 4370, served by the terminal for clients
  such as zkemkeeper-based programs, pyzk and node-zklib.

A front end like the kiosk and the admin: it sits on the services floor (the store, the face library,
attendance and the settings registry) and is started by the composition roots (``daka run``).
"""
