"""Tasks found through the app's ``imports=`` setting only."""

from celery import shared_task


@shared_task(name='importsapp.multiply')
def multiply(x, y):
    return x * y
