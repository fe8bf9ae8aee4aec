"""Device/installation configuration: ``daka.toml`` in the instance folder.

The schema is declared once (:mod:`.schema`) as frozen dataclasses (one per section) whose
fields carry a default, a one-line doc and the allowed values. From it come the defaults,
validation (:mod:`.load`, plus the rules involving several keys in :mod:`.checks`), the
commented default file and ``docs/config.md`` (:mod:`.render`).

Values are taken, lowest to highest precedence, from the defaults, the file, the plain
``DATABASE_URL`` variable (for ``storage.database_url`` only) and ``DAKA_<SECTION>_<KEY>``
environment variables. Some keys may also be changed by an admin at run time: which ones, and
how each applies, is declared in the run-time settings registry (``app/services/settings.py``);
a stored change overrides all of these (:func:`with_values` lays it over a loaded config).

The config knows nothing of the instance folder beyond its ``config_path`` / ``database_path``
(``app.instance`` imports the config to write the default file, never the other way), nor of
the registry (the services import the config).

Regenerate the docs with ``python -m app.config markdown > docs/config.md``.
"""

from .checks import CROSS_CHECKS
from .load import (
    check_setting,
    load_config,
    load_config_file,
    resolve_database_url,
    resolve_device_id,
    with_values,
)
from .render import _main, dump_config, render_default_config, render_markdown
from .schema import (
    CAMERA_SCHEMES,
    CONFIG_FILE_NAME,
    ENV_PREFIX,
    LOG_LEVELS,
    NO_PIN,
    ROTATIONS,
    SCHEMA,
    AdminConfig,
    AttendanceConfig,
    CameraConfig,
    Config,
    ConfigError,
    DeviceConfig,
    GpioConfig,
    KeySpec,
    LibraryConfig,
    LivenessConfig,
    LogConfig,
    ModelsConfig,
    PushConfig,
    RecognitionConfig,
    SectionSpec,
    SensorConfig,
    StorageConfig,
    UiConfig,
    VisionConfig,
    env_var_name,
    key_spec,
)

__all__ = [
    "CAMERA_SCHEMES",
    "CONFIG_FILE_NAME",
    "CROSS_CHECKS",
    "ENV_PREFIX",
    "LOG_LEVELS",
    "NO_PIN",
    "ROTATIONS",
    "SCHEMA",
    "AdminConfig",
    "AttendanceConfig",
    "CameraConfig",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "GpioConfig",
    "KeySpec",
    "LibraryConfig",
    "LivenessConfig",
    "LogConfig",
    "ModelsConfig",
    "PushConfig",
    "RecognitionConfig",
    "SectionSpec",
    "SensorConfig",
    "StorageConfig",
    "UiConfig",
    "VisionConfig",
    "_main",
    "check_setting",
    "dump_config",
    "env_var_name",
    "key_spec",
    "load_config",
    "load_config_file",
    "render_default_config",
    "render_markdown",
    "resolve_database_url",
    "resolve_device_id",
    "with_values",
]
