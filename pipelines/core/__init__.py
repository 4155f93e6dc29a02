"""The product's core vocabulary, imported by every other layer and importing none of them:
the KPI registry (and, as the redesign proceeds, settings, the input contract, warehouse access,
statistics and the read-only SQL guard). Nothing here touches the environment when imported."""
