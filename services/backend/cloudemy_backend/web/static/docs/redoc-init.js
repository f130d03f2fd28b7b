// ReDoc for the backend's own OpenAPI document (loaded as a file: the page's CSP forbids inline scripts).
Redoc.init("/openapi.json", { hideDownloadButton: false }, document.getElementById("redoc"));
