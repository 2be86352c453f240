"""The commune's desk: pages people read, beside the JSON API (`api/`).

Pages call the same `states/` use cases as the API and hold no rule of their own. For now it
holds the shared stylesheet that the acknowledgement page (api/routers/deadlines.py) uses; the
desk's pages arrive with the desk issue."""
