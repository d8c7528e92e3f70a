"""Built-in data: generated or bundled with a dependency, never downloaded at run time."""
