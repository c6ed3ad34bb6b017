"""The plain rules behind login and CSRF protection: where a login may send the browser, what counts as a
cross-origin request, which provider address may log in, GitLab's group rule, the providers' environment and
endpoints, the start-up warnings, and the headers every response gets."""

from __future__ import annotations

import logging

import pytest

from flower.identity import OAuthEnvironment, choose_login_email, in_allowed_groups, is_cross_origin, safe_next_url
from flower.command import security_warnings, warn_about_risky_settings
from flower.options import Options
from flower.views.auth import (
    GithubLoginHandler,
    GitLabLoginHandler,
    GoogleAuth2LoginHandler,
    LoginHandler,
    OktaLoginHandler,
    login_settings,
)
from flower.views.security import CONTENT_SECURITY_POLICY, security_headers


@pytest.mark.parametrize(
    'target', ['/', '/tasks', '/tasks?state=FAILURE&search=a%20b', '/task/abc#x', '/worker/celery%40host']
)
def test_next_on_this_site_is_kept(target):
    assert safe_next_url(target) == target


@pytest.mark.parametrize(
    'target',
    [
        None,
        '',
        'tasks',
        '//evil.com',
        '///evil.com',
        'https://evil.com',
        'http://evil.com/tasks',
        '/\\evil.com',
        '\\\\evil.com',
        '/\\/evil.com',
        '/\t/evil.com',
        '/\n/evil.com',
        ' //evil.com',
        'javascript:alert(1)',
        'JAVASCRIPT:alert(1)',
        'data:text/html,x',
        '/\u2215evil.com',
        '/%09/evil.com\x00',
        '/login',
        '/login/',
        '/logout',
        '/login?next=//evil.com',
    ],
)
def test_next_off_site_or_looping_is_refused(target):
    assert safe_next_url(target) is None


def test_next_must_stay_under_the_url_prefix():
    assert safe_next_url('/flower/tasks', 'flower') == '/flower/tasks'
    assert safe_next_url('/flower', '/flower/') == '/flower'
    assert safe_next_url('/flower/', 'flower') == '/flower/'
    assert safe_next_url('/tasks', 'flower') is None
    assert safe_next_url('/flowerbed/tasks', 'flower') is None
    assert safe_next_url('/flower/login', 'flower') is None
    assert safe_next_url('//evil.com/flower/', 'flower') is None


@pytest.mark.parametrize(
    'origin, site, cross',
    [
        (None, None, False),  # curl, requests: not a browser
        ('http://flower.local:5555', None, False),
        ('http://FLOWER.local:5555', None, False),
        ('https://flower.local', None, False),  # default port left out by the browser
        ('http://evil.com', None, True),
        ('http://flower.local:5556', None, True),
        ('http://flower.local.evil.com:5555', None, True),
        ('null', None, True),
        ('garbage', None, True),
        (None, 'same-origin', False),
        (None, 'none', False),
        ('http://evil.com', 'same-origin', False),  # the browser's word wins over a proxy-rewritten Host
        (None, 'cross-site', True),
        ('http://flower.local:5555', 'cross-site', True),
        (None, 'same-site', True),
        (None, 'CROSS-SITE', True),
    ],
)
def test_cross_origin_detection(origin, site, cross):
    hosts = ['flower.local:5555', 'flower.local:443', 'flower.local']
    assert is_cross_origin(origin, site, hosts) is cross


def test_the_first_allowed_address_logs_in_lower_cased():
    assert choose_login_email('.*@example.com', ['me@other.org', 'Me@Example.com', 'x@example.com']) == 'me@example.com'
    assert choose_login_email('.*@example.com', ['me@example.com.evil.com', None, 42]) is None
    assert choose_login_email('.*@example.com', []) is None


def test_gitlab_groups_match_exactly_but_for_case():
    assert in_allowed_groups(['ops', 'platform/infra'], ['dev', 'Platform/Infra'])
    assert in_allowed_groups([' ops/ '], ['ops'])
    assert not in_allowed_groups(['platform/infra'], ['platform'])  # a parent is not the subgroup
    assert not in_allowed_groups(['platform'], ['platform/infra'])  # nor the reverse
    assert not in_allowed_groups(['ops'], ['ops-evil', 'evilops', None])
    assert not in_allowed_groups([], ['ops'])


def test_oauth_environment():
    env = OAuthEnvironment.from_environ(
        {
            'FLOWER_GITHUB_OAUTH_DOMAIN': 'github.example.com',
            'FLOWER_GITLAB_OAUTH_DOMAIN': 'gitlab.example.com/',
            'FLOWER_GITLAB_AUTH_ALLOWED_GROUPS': 'ops, platform/infra ,,',
            'FLOWER_GITLAB_MIN_ACCESS_LEVEL': '30',
            'FLOWER_OAUTH2_OKTA_BASE_URL': 'https://x.okta.com/oauth2/default/',
        }
    )
    assert env == OAuthEnvironment(
        'github.example.com', 'gitlab.example.com', ('ops', 'platform/infra'), 30, 'https://x.okta.com/oauth2/default'
    )
    assert OAuthEnvironment.from_environ({}) == OAuthEnvironment()
    with pytest.raises(ValueError, match='FLOWER_GITLAB_MIN_ACCESS_LEVEL must be a GitLab access level'):
        OAuthEnvironment.from_environ({'FLOWER_GITLAB_MIN_ACCESS_LEVEL': 'developer'})
    with pytest.raises(ValueError, match='FLOWER_GITHUB_OAUTH_DOMAIN must be a host name'):
        OAuthEnvironment.from_environ({'FLOWER_GITHUB_OAUTH_DOMAIN': 'https://github.example.com/x'})


def test_provider_endpoints_follow_the_environment():
    env = OAuthEnvironment(
        github_domain='github.example.com',
        gitlab_domain='gitlab.example.com',
        okta_base_url='https://x.okta.com/oauth2/default',
    )
    assert GithubLoginHandler.default_endpoints(env) == {
        'authorize': 'https://github.example.com/login/oauth/authorize',
        'token': 'https://github.example.com/login/oauth/access_token',
        'emails': 'https://github.example.com/api/v3/user/emails',
    }
    assert GitLabLoginHandler.default_endpoints(env)['groups'] == 'https://gitlab.example.com/api/v4/groups'
    assert OktaLoginHandler.default_endpoints(env)['token'] == 'https://x.okta.com/oauth2/default/v1/token'
    assert GoogleAuth2LoginHandler.default_endpoints(env)['authorize'].startswith('https://accounts.google.com/')


def test_login_settings():
    options = Options(
        {
            'auth': '.*@example.com',
            'auth_provider': 'flower.views.auth.GithubLoginHandler',
            'oauth2_key': 'k',
            'oauth2_secret': 's',
        }
    )
    settings = login_settings(options, environ={})
    assert settings['login_provider'] is GithubLoginHandler
    assert settings['oauth'] == {'key': 'k', 'secret': 's', 'redirect_uri': None}
    assert login_settings(Options(), environ={})['login_provider'] is None


@pytest.mark.parametrize(
    'provider, environ, message',
    [
        ('no.such.module.Handler', {}, "Cannot load --auth_provider 'no.such.module.Handler'"),
        ('flower.views.auth.NoSuchHandler', {}, "Cannot load --auth_provider 'flower.views.auth.NoSuchHandler'"),
        ('flower.views.auth.login_settings', {}, 'is not a tornado RequestHandler class'),
        ('flower.views.auth.OktaLoginHandler', {}, 'needs FLOWER_OAUTH2_OKTA_BASE_URL'),
        (
            'flower.views.auth.GitLabLoginHandler',
            {'FLOWER_GITLAB_MIN_ACCESS_LEVEL': 'x'},
            'FLOWER_GITLAB_MIN_ACCESS_LEVEL must be',
        ),
    ],
)
def test_bad_login_configuration_stops_start_up_with_a_reason(provider, environ, message):
    with pytest.raises(ValueError, match=message.replace('.', r'\.').replace('(', r'\(')):
        login_settings(Options({'auth': '.*@example.com', 'auth_provider': provider}), environ=environ)


def test_login_handler_is_public_and_keeps_flowers_name():
    assert LoginHandler.public is True
    from flower.views import auth

    assert auth.authenticate is not None and auth.validate_auth_option('.*@x.com') is True


def test_no_authentication_warns_loudly_with_what_is_exposed():
    warnings = security_warnings(Options({'address': '0.0.0.0', 'port': 5555}), environ={})
    assert len(warnings) == 1
    assert warnings[0].startswith('NO AUTHENTICATION IS CONFIGURED')
    assert '0.0.0.0:5555' in warnings[0] and 'arguments' in warnings[0] and 'tracebacks' in warnings[0]
    assert 'REST API (and the dashboard\'s control buttons) stays closed' in warnings[0]
    opened = security_warnings(Options(), environ={'FLOWER_UNAUTHENTICATED_API': 'true'})[0]
    assert 'REST API is open too' in opened and 'shut down' in opened
    # --read_only refuses every control: the warning must not say anyone can run or terminate tasks
    read_only = security_warnings(Options({'read_only': True}), environ={'FLOWER_UNAUTHENTICATED_API': 'true'})[0]
    assert 'REST API is open too, for reading only' in read_only
    assert 'anyone can run' not in read_only and 'shut down' not in read_only
    assert 'anyone can read the same task and worker data' in read_only


@pytest.mark.parametrize(
    'values, rebinding',
    [
        ({}, True),  # all interfaces: any name is answered
        ({'address': '0.0.0.0'}, True),
        ({'address': '127.0.0.1'}, False),  # loopback: only loopback names by default
        ({'address': 'localhost'}, False),
        ({'address': '::1'}, False),
        ({'address': '127.0.0.1', 'allowed_hosts': ['*']}, True),  # chosen, still said
        ({'unix_socket': '/run/flower.sock'}, True),
        ({'address': '0.0.0.0', 'allowed_hosts': ['flower.example.com']}, False),
    ],
)
def test_the_no_authentication_warning_names_dns_rebinding_when_any_host_is_answered(values, rebinding):
    warning = security_warnings(Options(values), environ={})[0]
    assert warning.startswith('NO AUTHENTICATION IS CONFIGURED')
    assert ('DNS rebinding' in warning and 'set --allowed_hosts' in warning) is rebinding, warning


def test_random_cookie_secret_warns_when_there_are_sessions(caplog):
    options = Options(
        {
            'auth': '.*@example.com',
            'auth_provider': 'flower.views.auth.GoogleAuth2LoginHandler',
            'oauth2_key': 'k',
            'oauth2_secret': 's',
        }
    )
    assert options.cookie_secret_is_random
    with caplog.at_level(logging.WARNING, logger='flower.command'):
        warn_about_risky_settings(options, environ={})
    assert [r.getMessage() for r in caplog.records if 'cookie_secret' in r.getMessage()] == [
        '--cookie_secret is not set, so a random one signs the login cookies: every session ends when Flower '
        'restarts, and several Flower processes do not accept each other\'s sessions. Set --cookie_secret (or '
        'FLOWER_COOKIE_SECRET) to a long random value kept secret.'
    ]
    fixed = Options(
        {
            'auth': '.*@example.com',
            'auth_provider': 'flower.views.auth.GoogleAuth2LoginHandler',
            'oauth2_key': 'k',
            'oauth2_secret': 's',
            'cookie_secret': 'x' * 64,
        }
    )
    assert security_warnings(fixed, environ={}) == []


def test_half_configured_login_warns():
    assert 'nobody can log in' in ' '.join(
        security_warnings(Options({'auth': '.*@x.com', 'cookie_secret': 'x' * 64}), environ={})
    )
    assert 'login sessions are not checked' in ' '.join(
        security_warnings(
            Options(
                {
                    'auth_provider': 'flower.views.auth.GithubLoginHandler',
                    'basic_auth': ['a:b'],
                    'cookie_secret': 'x' * 64,
                }
            ),
            environ={},
        )
    )
    assert 'needs --oauth2_key and --oauth2_secret' in ' '.join(
        security_warnings(
            Options(
                {'auth': '.*@x.com', 'auth_provider': 'flower.views.auth.GithubLoginHandler', 'cookie_secret': 'x' * 64}
            ),
            environ={},
        )
    )


def test_security_headers():
    headers = security_headers()
    assert headers['X-Frame-Options'] == 'DENY'
    assert headers['Referrer-Policy'] == 'same-origin'
    directives = dict(part.split(' ', 1) for part in CONTENT_SECURITY_POLICY.split('; '))
    assert directives['script-src'] == "'self'"
    assert directives['frame-ancestors'] == "'none'"
    assert 'unsafe' not in CONTENT_SECURITY_POLICY
    assert 'Content-Security-Policy' not in security_headers(None)
