"""Berth's pages, one module per page. Each page renders whole on first load; htmx then
polls its partial (frontend/templates/frontend/partials/) so it stays live."""
