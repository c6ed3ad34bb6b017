"""``python -m flower``: the same as the ``flower`` console script."""

from flower.command import main

if __name__ == '__main__':
    main()
