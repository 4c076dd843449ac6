# Articulatory probing (Fig. 3, 4): only when the config has an `rtmri` section.


rule rtmri_vtd:
    """Gridlines and VTD for one speaker's Annot-16 tracks; a debug figure of the grid."""
    input:
        tracks=track_dir,
    output:
        vtd=f"{RESULTS}/rtmri/vtd/{{speaker}}.h5",
        figure=report(
            f"{RESULTS}/rtmri/vtd/{{speaker}}_grid.png",
            caption="../report/grid.rst",
            category="Articulatory",
        ),
    log:
        f"{LOGS}/rtmri_vtd/{{speaker}}.log",
    benchmark:
        f"{BENCH}/rtmri_vtd/{{speaker}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        annot16=lambda wc: config["rtmri"]["annot16"],
        args=lambda wc: vtd_args(config, wc.speaker),
        files=lambda wc: corpus_fingerprint(config, "annot16", wc.speaker),
    shell:
        "python -m codecprobe.artstage vtd --annot16 {params.annot16:q} --speaker {wildcards.speaker}"
        " --out {output.vtd:q} --figure {output.figure:q} {params.args} --log {log:q}"


rule rtmri_utterances:
    """rt-MRI utterances with both audio and VTD (length-checked), for the codecs."""
    input:
        vtd=each(f"{RESULTS}/rtmri/vtd/{{speaker}}.h5", "rt-MRI speakers (rtmri.speakers)", speaker=RTMRI_SPEAKERS),
    output:
        f"{RESULTS}/rtmri/utterances.csv",
    log:
        f"{LOGS}/rtmri_utterances.log",
    benchmark:
        f"{BENCH}/rtmri_utterances.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        root=lambda wc: config["rtmri"]["root"],
        tol=lambda wc: config["rtmri"].get("length_tolerance", 0.2),
        files=lambda wc: corpus_fingerprint(config, "rtmri_audio"),
    shell:
        "python -m codecprobe.artstage utterances --root {params.root:q} --vtd {input.vtd:q}"
        " --out {output:q} --tolerance {params.tol} --log {log:q}"


rule encode_rtmri:
    """Encode whole rt-MRI utterances (feature slicing) with one codec."""
    input:
        unpack(encode_rtmri_inputs),
    output:
        f"{RESULTS}/rtmri/features/{{codec}}.h5",
    log:
        f"{LOGS}/encode_rtmri/{{codec}}.log",
    benchmark:
        f"{BENCH}/encode_rtmri/{{codec}}.tsv"
    conda:
        lambda wc: f"../../envs/{codec_env(CODECS[wc.codec])}"
    threads: config.get("encode", {}).get("threads", 2)
    resources:
        gpu=lambda wc: encode_gpu(config, CODECS[wc.codec]),
        encode_run=encode_run_args(config),  # batching: a resource, so changing it reruns nothing
    params:
        codec=lambda wc: codec_json(config, wc.codec, RESULTS),
        args=lambda wc: encode_args(config, feature=True, codec=CODECS[wc.codec]),
    shell:
        "python -m codecprobe.encode --codec {params.codec:q} --words {input.words:q}"
        " --out {output:q} {params.args} {resources.encode_run} --threads {threads} --log {log:q}"


rule rtmri_pwcca:
    """PWCCA between VTD and each layer's accumulated features, per speaker."""
    input:
        features=f"{RESULTS}/rtmri/features/{{codec}}.h5",
        vtd=each(f"{RESULTS}/rtmri/vtd/{{speaker}}.h5", "rt-MRI speakers (rtmri.speakers)", speaker=RTMRI_SPEAKERS),
    output:
        f"{RESULTS}/rtmri/pwcca/{{codec}}.csv",
    log:
        f"{LOGS}/rtmri_pwcca/{{codec}}.log",
    benchmark:
        f"{BENCH}/rtmri_pwcca/{{codec}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        args=lambda wc: pwcca_args(config, CODECS[wc.codec]["family"]),
    shell:
        "python -m codecprobe.artstage pwcca --codec {wildcards.codec} --features {input.features:q}"
        " --vtd {input.vtd:q} --out {output:q} {params.args} --log {log:q}"


rule fig3:
    """Fig. 3 (PWCCA per layer, every codec) and Fig. 4 (MIMI's first layer vs the rest)."""
    input:
        expand(f"{RESULTS}/rtmri/pwcca/{{codec}}.csv", codec=list(CODECS)),
    output:
        table=report(
            f"{RESULTS}/rtmri/pwcca_all_codecs.csv",
            caption="../report/pwcca.rst",
            category="Articulatory",
        ),
        summary=report(
            f"{RESULTS}/rtmri/pwcca_summary.csv",
            caption="../report/pwcca_summary.rst",
            category="Articulatory",
        ),
        pdf=f"{RESULTS}/figures/fig3_articulatory.pdf",
        png=report(
            f"{RESULTS}/figures/fig3_articulatory.png",
            caption="../report/fig3.rst",
            category="Articulatory",
        ),
        latex=report(
            f"{RESULTS}/tables/pwcca.tex",
            caption="../report/pwcca_tex.rst",
            category="Articulatory",
        ),
    log:
        f"{LOGS}/fig3.log",
    benchmark:
        f"{BENCH}/fig3.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        note=rtmri_label(config),
    shell:
        "python -m codecprobe.artstage figures --tables {input:q} --combined {output.table:q}"
        " --summary {output.summary:q} --pdf {output.pdf:q} --png {output.png:q}"
        " --note {params.note:q} --latex {output.latex:q} --log {log:q}"


rule rtmri_lag:
    """PWCCA of chosen layers against VTD at time lags, per speaker (rtmri.lag)."""
    input:
        features=f"{RESULTS}/rtmri/features/{{codec}}.h5",
        vtd=each(f"{RESULTS}/rtmri/vtd/{{speaker}}.h5", "rt-MRI speakers (rtmri.speakers)", speaker=RTMRI_SPEAKERS),
    output:
        f"{RESULTS}/rtmri/lag/{{codec}}.csv",
    log:
        f"{LOGS}/rtmri_lag/{{codec}}.log",
    benchmark:
        f"{BENCH}/rtmri_lag/{{codec}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        args=lag_args(config) if LAG else "",
    shell:
        "python -m codecprobe.artstage lag --codec {wildcards.codec} --features {input.features:q}"
        " --vtd {input.vtd:q} --out {output:q} {params.args} --log {log:q}"


rule fig3_lag:
    """PWCCA against time lag: mean over speakers per lag, the best lag per codec and layer."""
    input:
        expand(f"{RESULTS}/rtmri/lag/{{codec}}.csv", codec=list(CODECS)),
    output:
        table=report(
            f"{RESULTS}/rtmri/lag_all_codecs.csv",
            caption="../report/lag_all.rst",
            category="Articulatory",
        ),
        summary=report(
            f"{RESULTS}/rtmri/lag_summary.csv",
            caption="../report/lag_summary.rst",
            category="Articulatory",
        ),
        best=report(
            f"{RESULTS}/rtmri/lag_best.csv",
            caption="../report/lag_best.rst",
            category="Articulatory",
        ),
        pdf=f"{RESULTS}/figures/fig3_lag.pdf",
        png=report(
            f"{RESULTS}/figures/fig3_lag.png",
            caption="../report/fig3_lag.rst",
            category="Articulatory",
        ),
    log:
        f"{LOGS}/fig3_lag.log",
    benchmark:
        f"{BENCH}/fig3_lag.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        note=rtmri_label(config),
    shell:
        "python -m codecprobe.artstage lag-figure --tables {input:q} --combined {output.table:q}"
        " --summary {output.summary:q} --best {output.best:q} --pdf {output.pdf:q} --png {output.png:q}"
        " --note {params.note:q} --log {log:q}"


rule rtmri_regions:
    """The tract region (lips, palate, velum, pharynx) of each gridline of one speaker."""
    input:
        tracks=track_dir,
        vtd=f"{RESULTS}/rtmri/vtd/{{speaker}}.h5",
    output:
        f"{RESULTS}/rtmri/regions/{{speaker}}.csv",
    log:
        f"{LOGS}/rtmri_regions/{{speaker}}.log",
    benchmark:
        f"{BENCH}/rtmri_regions/{{speaker}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        annot16=lambda wc: config["rtmri"]["annot16"],
        skip=lambda wc: shlex.join(config["rtmri"].get("skip_tasks", ["vcv", "bvt"])),
        files=lambda wc: corpus_fingerprint(config, "annot16", wc.speaker),
        bad=lambda wc: config["rtmri"].get("bad_frames", "skip"),
        bad_tracks=lambda wc: config["rtmri"].get("bad_tracks", "skip"),
        max_frames=lambda wc: (REGIONS or {}).get("max_frames", 400),
        gap=lambda wc: regions_gap_args(config),
    shell:
        "python -m codecprobe.artstage regions --annot16 {params.annot16:q} --speaker {wildcards.speaker}"
        " --vtd {input.vtd:q} --out {output:q} --skip-tasks {params.skip} --bad-frames {params.bad}"
        " --bad-tracks {params.bad_tracks} {params.gap}"
        " --max-frames {params.max_frames} --log {log:q}"


rule rtmri_region_pwcca:
    """PWCCA per tract region and chosen layer, per speaker, with shuffled baselines."""
    input:
        features=f"{RESULTS}/rtmri/features/{{codec}}.h5",
        vtd=each(f"{RESULTS}/rtmri/vtd/{{speaker}}.h5", "rt-MRI speakers (rtmri.speakers)", speaker=RTMRI_SPEAKERS),
        regions=each(
            f"{RESULTS}/rtmri/regions/{{speaker}}.csv", "rt-MRI speakers (rtmri.speakers)", speaker=RTMRI_SPEAKERS
        ),
    output:
        f"{RESULTS}/rtmri/region_pwcca/{{codec}}.csv",
    log:
        f"{LOGS}/rtmri_region_pwcca/{{codec}}.log",
    benchmark:
        f"{BENCH}/rtmri_region_pwcca/{{codec}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        args=region_args(config) if REGIONS else "",
    shell:
        "python -m codecprobe.artstage region-pwcca --codec {wildcards.codec} --features {input.features:q}"
        " --vtd {input.vtd:q} --regions {input.regions:q} --out {output:q} {params.args} --log {log:q}"


rule fig3_regions:
    """PWCCA per tract region: mean over speakers per codec, region and layer, and the figure."""
    input:
        expand(f"{RESULTS}/rtmri/region_pwcca/{{codec}}.csv", codec=list(CODECS)),
    output:
        table=report(
            f"{RESULTS}/rtmri/region_pwcca_all_codecs.csv",
            caption="../report/region_pwcca.rst",
            category="Articulatory",
        ),
        summary=report(
            f"{RESULTS}/rtmri/region_summary.csv",
            caption="../report/region_summary.rst",
            category="Articulatory",
        ),
        pdf=f"{RESULTS}/figures/fig3_regions.pdf",
        png=report(
            f"{RESULTS}/figures/fig3_regions.png",
            caption="../report/fig3_regions.rst",
            category="Articulatory",
        ),
    log:
        f"{LOGS}/fig3_regions.log",
    benchmark:
        f"{BENCH}/fig3_regions.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    params:
        note=rtmri_label(config),
    shell:
        "python -m codecprobe.artstage region-figure --tables {input:q} --combined {output.table:q}"
        " --summary {output.summary:q} --pdf {output.pdf:q} --png {output.png:q}"
        " --note {params.note:q} --log {log:q}"
