"""ZKTeco PUSH (ADMS), device side: Daka pushes punches and its operation log to an ADMS server
(ZKBioTime/BioTime, WDMS, the ADMS add-ons of Odoo and ERPNext) and carries out its commands.

``AdmsLink`` (link.py) is the service ``daka run`` starts; ``protocol.py`` the wire format;
``commands.py`` the server's commands; ``data.py`` what it reads and writes in the store.
See docs/hr-integration.md.
"""

from .link import AdmsLink, default_serial

__all__ = ["AdmsLink", "default_serial"]
