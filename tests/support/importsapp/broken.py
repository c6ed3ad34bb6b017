"""A task module that cannot be imported where the server runs: it needs a package that is not installed."""

import flower_tests_package_that_is_not_installed  # noqa: F401
