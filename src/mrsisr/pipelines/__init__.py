"""Read the metabolite maps that MRSI pipelines write (:mod:`mrsisr.pipelines._common`)."""

from mrsisr.pipelines._common import (
    FSL_MRS_SCALINGS,
    MapRecord,
    Pipeline,
    PipelineMaps,
    QualityThresholds,
    read_pipeline,
    sd_in_map_units,
)

__all__ = [
    "FSL_MRS_SCALINGS",
    "MapRecord",
    "Pipeline",
    "PipelineMaps",
    "QualityThresholds",
    "read_pipeline",
    "sd_in_map_units",
]
