"""Editing in Style (Collins et al., CVPR 2020): copy a semantic part from one image into another by
mixing the two images' style vectors channel by channel; docs/editing-in-style.md.

A **catalog** (built once per model) clusters one layer's activations and records, per style channel,
how much of its energy falls into each cluster; a part transfer then moves the channels that live in the
part. One job per module:

    kmeans          spherical k-means (assign_clusters, kmeans_similarity)
    contributions   the contribution matrix, Eq. 1 (ContributionAccumulator: update / compute / reset)
    features        which activations a catalog reads; its seeded sample images
    catalog         the Catalog type, part names, catalog.json + catalog.safetensors, load_catalog
    agreement       clusters against a part parser: naming by IoU, cluster_agreement
    build           build_catalog
    queries         Eq. 4 / Eq. 5 queries, part_queries
    transfer        Eq. 3: mix the styles by the queries, one synthesis pass
    operations      the registered operation transfer_part -> Result
"""

from .agreement import DEFAULT_PART_GROUPS, cluster_agreement, match_clusters_to_parts
from .build import build_catalog
from .catalog import CATALOG_FORMAT, CATALOG_VERSION, Catalog, PartSpec, catalog_path, list_catalogs, load_catalog
from .contributions import ContributionAccumulator, contribution_matrix, hard_memberships
from .errors import CatalogError
from .features import catalog_layers, default_catalog_layer, sample_codes, sample_features, style_input_features
from .kmeans import KMeansResult, assign_clusters, kmeans_similarity, spherical_kmeans
from .operations import CatalogLike, resolve_catalog, transfer_part
from .queries import (
    DEFAULT_EPS, DEFAULT_LAMBDA, DEFAULT_RHO, QUERY_METHODS, QueryMethod, part_queries, sequential_query,
    simultaneous_query,
)  # fmt: skip
from .transfer import PartTransferOutput, transfer_styles

__all__ = [
    # the public API (regiongan.transfer_part / build_catalog / load_catalog)
    "transfer_part", "build_catalog", "load_catalog", "Catalog", "CatalogError", "CatalogLike", "PartSpec",
    "list_catalogs", "catalog_path", "resolve_catalog", "CATALOG_FORMAT", "CATALOG_VERSION",
    # queries and the transfer core
    "DEFAULT_EPS", "DEFAULT_LAMBDA", "DEFAULT_RHO", "QUERY_METHODS", "QueryMethod", "simultaneous_query",
    "sequential_query", "part_queries", "PartTransferOutput", "transfer_styles",
    # building blocks
    "KMeansResult", "spherical_kmeans", "assign_clusters", "kmeans_similarity", "hard_memberships",
    "ContributionAccumulator", "contribution_matrix", "catalog_layers", "default_catalog_layer",
    "style_input_features", "sample_codes", "sample_features", "DEFAULT_PART_GROUPS", "match_clusters_to_parts",
    "cluster_agreement",
]  # fmt: skip
