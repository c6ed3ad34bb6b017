"""Templates and static files with user overrides: ``Flower(template_path=..., static_path=...)``.

A user who passes their own ``template_path`` or ``static_path`` replaces the built-in file of the same name
(``base.html``, ``tasks.html``, ``css/flower.css``, ...) and keeps every other built-in one. Lookups go through
the user's directory first, then the package's.

A template can reach the built-in version of a file it overrides with the ``flower/`` prefix, so an override
can extend the original instead of copying it: ``{% extends "flower/base.html" %}``.

Static files answer their errors as text (:class:`StaticFiles`, through :mod:`flower.views.error_render`).

Both classes are read on the IOLoop thread (template loading and static file serving happen in handlers).
"""

from __future__ import annotations

import os

import tornado.template
import tornado.web

from flower.views.error_render import TEXT, ErrorAnswers

BUILTIN_PREFIX = 'flower/'


class FallbackTemplateLoader(tornado.template.BaseLoader):
    """Loads ``name`` from the first directory of ``roots`` that has it; ``flower/<name>`` always loads the
    built-in one (the last root)."""

    def __init__(self, roots: list[str], **kwargs):
        super().__init__(**kwargs)
        self.roots = [os.path.abspath(root) for root in roots]

    def resolve_path(self, name: str, parent_path: str | None = None) -> str:
        return name  # names are relative to the roots, whichever template includes them

    def _create_template(self, name: str) -> tornado.template.Template:
        path = self.find(name)
        with open(path, 'rb') as handle:
            return tornado.template.Template(handle.read(), name=name, loader=self)

    def find(self, name: str) -> str:
        if name.startswith(BUILTIN_PREFIX):
            roots, name = self.roots[-1:], name[len(BUILTIN_PREFIX) :]
        else:
            roots = self.roots
        for root in roots:
            path = os.path.abspath(os.path.join(root, name))
            if not path.startswith(root + os.sep):
                raise ValueError(f'Template {name!r} is outside the template directories')
            if os.path.isfile(path):
                return path
        raise FileNotFoundError(f'Template {name!r} not found in {", ".join(roots)}')


class StaticFiles(ErrorAnswers, tornado.web.StaticFileHandler):
    """Tornado's static file handler, whose errors (a missing file, a path outside the directory) are the text
    of :mod:`flower.views.error_render` instead of tornado's bare HTML: a script or stylesheet request has no
    page to show. The application's ``static_handler_class`` (see :data:`flower.urls.settings`)."""

    error_format = TEXT


class FallbackStaticFileHandler(StaticFiles):
    """A static file handler that serves from several directories, first match wins. Subclassed per
    application by :func:`static_handler_for`, which sets :attr:`roots`."""

    roots: tuple[str, ...] = ()

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        candidates = []
        for directory in (root, *cls.roots):
            candidate = os.path.abspath(os.path.join(directory, path))
            cls._check_in_root(directory, candidate, path)
            if os.path.isfile(candidate):
                return candidate
            candidates.append(candidate)
        return candidates[0]

    def validate_absolute_path(self, root: str, absolute_path: str):
        for directory in (root, *self.roots):
            directory = os.path.abspath(directory)
            if (absolute_path + os.sep).startswith(directory + os.sep):
                return super().validate_absolute_path(directory, absolute_path)
        raise tornado.web.HTTPError(403, '%s is not in a static directory', self.path)


def static_handler_for(fallback_roots: list[str]) -> type[FallbackStaticFileHandler]:
    """A static handler class that falls back to ``fallback_roots`` after the app's ``static_path``."""
    return type(
        'FallbackStaticFileHandler',
        (FallbackStaticFileHandler,),
        {'roots': tuple(os.path.abspath(root) for root in fallback_roots)},
    )


def override_settings(settings: dict, builtin_templates: str, builtin_static: str) -> dict:
    """The tornado settings that make a user's ``template_path``/``static_path`` override the built-in files
    by name (nothing to add when the built-in directories are used)."""
    extra: dict = {}
    templates = settings.get('template_path')
    if (
        templates
        and os.path.abspath(templates) != os.path.abspath(builtin_templates)
        and 'template_loader' not in settings
    ):
        kwargs = {'autoescape': settings['autoescape']} if 'autoescape' in settings else {}
        if 'template_whitespace' in settings:
            kwargs['whitespace'] = settings['template_whitespace']
        extra['template_loader'] = FallbackTemplateLoader([templates, builtin_templates], **kwargs)
    static = settings.get('static_path')
    if (
        static
        and os.path.abspath(static) != os.path.abspath(builtin_static)
        and settings.get('static_handler_class', StaticFiles) is StaticFiles
    ):
        extra['static_handler_class'] = static_handler_for([builtin_static])
    return extra
