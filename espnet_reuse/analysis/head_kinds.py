"""Kinds of attention heads, from their offset profiles (after Wu et al., Interspeech
2020: heads fall into a few general kinds, the kinds input-independent maps start from).

Each head is described by its mean offset profile (attention mass per relative offset
``key - query``, on the common grid ``-R..R`` of ``metrics.offset_profile``, so
utterances of any length compare), cut to ``-W..W`` plus the mass beyond each side,
and by its verticality in standard deviations from all heads' (times 0.05, about the
distance between two distinct profiles; a vertical head's profile alone looks global).
PCA and t-SNE (scikit-learn) embed the heads in 2-D; k-means groups them; each group is
named by the shape of its mean profile and the verticality of its heads (``name_kind``).
"""

from typing import Any, Dict, List

import numpy as np
import torch

LOCAL_WIDTH = 2  # offsets counted as "local"
WINDOW = 16  # offsets kept one by one in the features; the rest is summed a side
VERTICALITY_WEIGHT = 0.05  # one standard deviation of verticality, as a feature
RULE = (
    f"local: half the mass or more within ±{LOCAL_WIDTH} frames; else vertical: the heads' "
    "verticality one standard deviation or more above the mean of all heads; else left "
    "(right) context: 60 % or more of the mass at earlier (later) frames; else global"
)


def profile_features(profiles: torch.Tensor, window: int = WINDOW) -> np.ndarray:
    """(N, 2R+1) offset profiles to (N, 2W+3) features: offsets -W..W, and the summed
    mass below -W and above W; each row normalised to sum to 1."""
    max_offset = (profiles.size(-1) - 1) // 2
    window = min(window, max_offset)
    centre = profiles[:, max_offset - window : max_offset + window + 1]
    left = profiles[:, : max_offset - window].sum(dim=1, keepdim=True)
    right = profiles[:, max_offset + window + 1 :].sum(dim=1, keepdim=True)
    features = torch.cat([left, centre, right], dim=1).double()
    return (features / features.sum(dim=1, keepdim=True).clamp_min(1e-12)).numpy()


def name_kind(profile: np.ndarray, verticality_z: float) -> str:
    """The kind of a mean offset profile over ``-R..R`` (sums to 1) by ``RULE``;
    ``verticality_z``: its heads' verticality in standard deviations from all heads'."""
    max_offset = (len(profile) - 1) // 2
    local = profile[max_offset - LOCAL_WIDTH : max_offset + LOCAL_WIDTH + 1].sum()
    if local >= 0.5:
        return "local"
    if verticality_z >= 1.0:
        return "vertical"
    if profile[:max_offset].sum() >= 0.6:
        return "left context"
    if profile[max_offset + 1 :].sum() >= 0.6:
        return "right context"
    return "global"


def head_kinds(
    profiles: torch.Tensor, verticality: torch.Tensor, kinds: int = 5, seed: int = 0
) -> Dict[str, Any]:
    """Group the heads of ``profiles`` (L, H, 2R+1) with ``verticality`` (L, H).

    Returns ``kind`` (L, H) names, ``groups`` (L, H) k-means group ids, each group's
    ``group_kinds``, ``kind_profiles`` (kind -> mean profile over -R..R), the 2-D ``pca``
    and ``tsne`` coordinates (L*H, 2) in layer-major order, and the ``rule``.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    layers, heads, width = profiles.shape
    flat = profiles.reshape(layers * heads, width).double()
    flat = flat / flat.sum(dim=1, keepdim=True).clamp_min(1e-12)
    vertical = verticality.reshape(-1).double().numpy()
    z = (vertical - vertical.mean()) / (vertical.std() or 1.0)
    # a vertical head's profile looks global: its verticality joins the features
    features = np.concatenate([profile_features(flat), VERTICALITY_WEIGHT * z[:, None]], axis=1)
    count = flat.size(0)
    distinct = len(np.unique(features.round(12), axis=0))  # heads of a shared map are equal
    groups = KMeans(min(kinds, distinct), n_init=10, random_state=seed).fit_predict(features)
    group_kinds = {
        int(g): name_kind(flat[groups == g].mean(dim=0).numpy(), float(z[groups == g].mean()))
        for g in np.unique(groups)
    }
    names = [group_kinds[int(g)] for g in groups]
    kind_profiles = {
        kind: flat[[n == kind for n in names]].mean(dim=0).tolist() for kind in sorted(set(names))
    }
    pca = PCA(2, random_state=seed).fit_transform(features) if count > 2 else features[:, :2]
    tsne = TSNE(2, perplexity=min(5.0, count - 1.0), random_state=seed, init="pca")
    return {
        "kind": np.array(names).reshape(layers, heads).tolist(),
        "groups": groups.reshape(layers, heads).tolist(),
        "group_kinds": group_kinds,
        "kind_profiles": kind_profiles,
        "pca": pca.tolist(),
        "tsne": tsne.fit_transform(features).tolist() if count > 2 else pca.tolist(),
        "rule": RULE,
    }


def kind_profile_table(result: Dict[str, Any]) -> List[List[List[float]]]:
    """Each head's kind's mean profile, (L, H, 2R+1): the ``per_layer_head`` profiles
    ``convert_checkpoint --learned_map_profiles`` starts learned maps from."""
    profiles = result["kind_profiles"]
    return [[profiles[kind] for kind in row] for row in result["kind"]]
