"""A package whose ``tasks`` module ``autodiscover_tasks`` finds, as Django's finds each app's."""
