"""``python -m cloudemy_scheduler``: run the scheduler until SIGTERM."""

from cloudemy_scheduler.app import main

if __name__ == "__main__":
    main()
