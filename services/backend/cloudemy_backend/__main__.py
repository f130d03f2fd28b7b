"""``python -m cloudemy_backend``: one uvicorn worker on $HOST:$PORT (images run gunicorn instead)."""

import uvicorn

from cloudemy_backend.core.config import load_settings_or_exit
from cloudemy_backend.main import create_app


def main() -> None:
    settings = load_settings_or_exit()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # the app's JSON logging
        access_log=False,  # the app logs one line per request itself
        timeout_graceful_shutdown=30,
        server_header=False,
    )


if __name__ == "__main__":
    main()
