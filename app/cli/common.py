"""What every `daka` command shares: exit codes and opening the instance."""

from __future__ import annotations

from app.config import load_config
from app.instance import Instance
from app.logs import setup_logging
from app.models import ModelSet, resolve

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def load(args, *, create: bool = True):
    """Instance folder, validated config and logging, in that order."""
    instance = Instance.resolve(args.instance)
    if create:
        instance.prepare()
    config = load_config(instance)
    setup_logging(config.log, instance if create else None)
    return instance, config


def resolve_models(config) -> ModelSet:
    """The configured model files, verified as [models] verify says."""
    return resolve(config.models.dir or None, verify=config.models.verify)
