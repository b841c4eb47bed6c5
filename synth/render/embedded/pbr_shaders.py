"""GLSL sources of the physically based ``standard`` look of the embedded renderer.

Adapted from panda3d-simplepbr 0.13.1 (``simplepbr.vert``, ``simplepbr.frag``, ``shadow.vert``; itself based on the
Khronos glTF-Sample-Viewer), under the following licence:

    BSD 3-Clause License

    Copyright (c) 2019, Mitchell Stokes
    All rights reserved.

    Redistribution and use in source and binary forms, with or without
    modification, are permitted provided that the following conditions are met:

    * Redistributions of source code must retain the above copyright notice, this
      list of conditions and the following disclaimer.

    * Redistributions in binary form must reproduce the above copyright notice,
      this list of conditions and the following disclaimer in the documentation
      and/or other materials provided with the distribution.

    * Neither the name of the copyright holder nor the names of its
      contributors may be used to endorse or promote products derived from
      this software without specific prior written permission.

    THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
    AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
    IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
    DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
    FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
    DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
    SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
    CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
    OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
    OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

Changes against simplepbr, for 10 offscreen cameras in one frame: tone mapping (ACES fit) runs at the end of the
forward pass instead of a post-process quad per window, and the sRGB encode is the framebuffer's (same pass, no
extra buffer); exactly one directional light whose shadow map Panda3D renders once per frame for every camera;
image-based lighting from an equirectangular map (world z up): diffuse from 9 spherical-harmonic coefficients
(computed in ``synth.render.embedded.ibl``), specular from the map's mip chain with Karis' analytic split-sum
approximation instead of a BRDF look-up texture; the camera position comes from ``p3d_ViewMatrixInverse`` (no
per-camera uniform); CPU skinning (Panda3D animates the vertices before the shader runs).
"""

PBR_VERT = """#version 330
uniform mat4 p3d_ProjectionMatrix;
uniform mat4 p3d_ModelViewMatrix;
uniform mat4 p3d_ModelMatrix;
uniform mat3 p3d_NormalMatrix;
uniform mat4 p3d_TextureMatrix;
uniform struct p3d_LightSourceParameters {
    vec4 color;
    vec4 position;
    sampler2DShadow shadowMap;
    mat4 shadowViewMatrix;
} p3d_LightSource[1];

in vec4 p3d_Vertex;
in vec4 p3d_Color;
in vec3 p3d_Normal;
in vec2 p3d_MultiTexCoord0;

out vec3 v_view_position;
out vec3 v_view_normal;
out vec4 v_color;
out vec2 v_texcoord;
out vec4 v_shadow_pos;

void main() {
    vec4 view_position = p3d_ModelViewMatrix * p3d_Vertex;
    v_view_position = view_position.xyz;
    v_view_normal = normalize(p3d_NormalMatrix * p3d_Normal);
    v_color = p3d_Color;
    v_texcoord = (p3d_TextureMatrix * vec4(p3d_MultiTexCoord0, 0, 1)).xy;
    v_shadow_pos = p3d_LightSource[0].shadowViewMatrix * view_position;
    gl_Position = p3d_ProjectionMatrix * view_position;
}
"""

_COMMON = """
const float PI = 3.141592653589793;
uniform sampler2D env_map;          // equirectangular, linear HDR, v = 1 at the zenith (world +z)
uniform float env_max_lod;
uniform float exposure;

vec2 equirect_uv(vec3 d) {
    return vec2(0.5 + atan(d.y, d.x) / (2.0 * PI), 0.5 + asin(clamp(d.z, -1.0, 1.0)) / PI);
}

// Krzysztof Narkowicz's ACES filmic fit; linear in, linear out (the sRGB framebuffer encodes)
vec3 tonemap(vec3 x) {
    x *= exposure;
    return clamp((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14), 0.0, 1.0);
}
"""

#: uniforms and stage inputs shared by the PBR and hair fragment shaders (Panda3D's p3d_* inputs, the SH irradiance)
_FRAG_UNIFORMS = """
uniform struct p3d_MaterialParameters {
    vec4 baseColor;
    vec4 emission;
    float roughness;
    float metallic;
} p3d_Material;
uniform struct p3d_LightSourceParameters {
    vec4 color;
    vec4 position;
    sampler2DShadow shadowMap;
    mat4 shadowViewMatrix;
} p3d_LightSource[1];
uniform mat4 p3d_ViewMatrixInverse;
uniform vec4 p3d_ColorScale;
uniform sampler2D p3d_Texture0;
uniform vec3 sh_coeffs[9];          // irradiance SH (world z up), already convolved with the cosine lobe
uniform float shadow_bias;
"""
_FRAG_INPUTS = """
in vec3 v_view_position;
in vec3 v_view_normal;
in vec4 v_color;
in vec2 v_texcoord;
in vec4 v_shadow_pos;
out vec4 o_color;

vec3 irradiance_from_sh(vec3 n) {
    return sh_coeffs[0] * 0.282095
        + sh_coeffs[1] * 0.488603 * n.y + sh_coeffs[2] * 0.488603 * n.z + sh_coeffs[3] * 0.488603 * n.x
        + sh_coeffs[4] * 1.092548 * n.x * n.y + sh_coeffs[5] * 1.092548 * n.y * n.z
        + sh_coeffs[6] * 0.315392 * (3.0 * n.z * n.z - 1.0)
        + sh_coeffs[7] * 1.092548 * n.x * n.z + sh_coeffs[8] * 0.546274 * (n.x * n.x - n.y * n.y);
}

"""

PBR_FRAG = "#version 330" + _FRAG_UNIFORMS + _COMMON + _FRAG_INPUTS + """// Karis, "Physically Based Shading on Mobile": analytic fit of the split-sum BRDF integral
vec3 env_brdf_approx(vec3 spec_color, float roughness, float n_dot_v) {
    const vec4 c0 = vec4(-1.0, -0.0275, -0.572, 0.022);
    const vec4 c1 = vec4(1.0, 0.0425, 1.04, -0.04);
    vec4 r = roughness * c0 + c1;
    float a004 = min(r.x * r.x, exp2(-9.28 * n_dot_v)) * r.x + r.y;
    vec2 ab = vec2(-1.04, 1.04) * a004 + r.zw;
    return spec_color * ab.x + ab.y;
}

float shadow_factor() {
    vec3 p = v_shadow_pos.xyz / v_shadow_pos.w;
    if (p.x <= 0.0 || p.x >= 1.0 || p.y <= 0.0 || p.y >= 1.0) return 1.0;
    p.z -= shadow_bias;
    // one tap: the depth-comparison sampler filters linearly (2x2 PCF in hardware); more taps cost ~40% of the
    // frame on llvmpipe
    return texture(p3d_LightSource[0].shadowMap, p);
}

void main() {
    vec4 base = p3d_Material.baseColor * v_color * p3d_ColorScale * texture(p3d_Texture0, v_texcoord);
    float metallic = clamp(p3d_Material.metallic, 0.0, 1.0);
    float perceptual_roughness = clamp(p3d_Material.roughness, 0.04, 1.0);
    float alpha = perceptual_roughness * perceptual_roughness;
    vec3 f0 = vec3(0.04);
    vec3 diffuse_color = base.rgb * (1.0 - f0) * (1.0 - metallic);
    vec3 spec_color = mix(f0, base.rgb, metallic);

    vec3 n = normalize(v_view_normal);
    vec3 v = normalize(-v_view_position);
    if (dot(n, v) < 0.0) n = -n;  // two-sided cards and inside-out boxes
    float n_dot_v = clamp(dot(n, v), 1e-4, 1.0);

    // the one directional light (sun / key light), shadowed
    vec3 l = normalize(p3d_LightSource[0].position.xyz);
    vec3 h = normalize(l + v);
    float n_dot_l = clamp(dot(n, l), 0.0, 1.0);
    float n_dot_h = clamp(dot(n, h), 0.0, 1.0);
    float v_dot_h = clamp(dot(v, h), 0.0, 1.0);
    vec3 F = spec_color + (1.0 - spec_color) * pow(2.0, (-5.55473 * v_dot_h - 6.98316) * v_dot_h);
    float a2 = alpha * alpha;
    float ggxv = n_dot_l * sqrt(n_dot_v * n_dot_v * (1.0 - a2) + a2);
    float ggxl = n_dot_v * sqrt(n_dot_l * n_dot_l * (1.0 - a2) + a2);
    float V = (ggxv + ggxl) > 0.0 ? 0.5 / (ggxv + ggxl) : 0.0;
    float f = n_dot_h * n_dot_h * (a2 - 1.0) + 1.0;
    float D = a2 / (PI * f * f);
    vec3 direct = n_dot_l * p3d_LightSource[0].color.rgb * (diffuse_color / PI + F * V * D) * shadow_factor();

    // image-based lighting (world space)
    mat3 view_to_world = mat3(p3d_ViewMatrixInverse);
    vec3 wn = normalize(view_to_world * n);
    vec3 wr = normalize(view_to_world * reflect(-v, n));
    vec3 irradiance = max(irradiance_from_sh(wn), 0.0);
    // rough surfaces (most of a scene) reflect the irradiance-like blur of the map: take it from the SH and skip
    // the equirect fetch (atan/asin per pixel cost ~30% of the frame on llvmpipe); glossy ones sample the mips
    vec3 prefiltered = max(irradiance_from_sh(wr), 0.0) / PI;
    if (perceptual_roughness < 0.6) {
        vec3 lod = textureLod(env_map, equirect_uv(wr), perceptual_roughness * env_max_lod).rgb;
        prefiltered = mix(lod, prefiltered, smoothstep(0.45, 0.6, perceptual_roughness));
    }
    vec3 ks = env_brdf_approx(spec_color, perceptual_roughness, n_dot_v);
    vec3 ambient = diffuse_color * irradiance / PI + prefiltered * ks;

    o_color = vec4(tonemap(direct + ambient + p3d_Material.emission.rgb), base.a);
}
"""

SHADOW_VERT = """#version 330
uniform mat4 p3d_ModelViewProjectionMatrix;
in vec4 p3d_Vertex;
void main() {
    gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
}
"""

SHADOW_FRAG = """#version 330
out vec4 o_color;
void main() {
    o_color = vec4(1.0);
}
"""

SKY_VERT = """#version 330
uniform mat4 p3d_ModelViewProjectionMatrix;
uniform mat4 p3d_ModelViewMatrix;
uniform mat4 p3d_ViewMatrixInverse;
in vec4 p3d_Vertex;
out vec3 v_dir;
void main() {
    v_dir = mat3(p3d_ViewMatrixInverse) * (p3d_ModelViewMatrix * p3d_Vertex).xyz;  // camera -> vertex, world axes
    gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
}
"""

# --- ground-projected dome (issue 23 look-2: grounds without smears or seams) -------------------------------------
# The map is projected onto a grounded dome, as three.js's GroundedSkybox does: a sphere of ``dome_radius`` metres
# around ``proj_centre`` (the projection centre, the HDRI's capture height above the floor) whose bottom is the flat
# floor at world z = 0. A view ray from the eye shows the map's radiance in the direction from the centre to where
# the ray leaves the dome. Near the centre that is the flat-floor projection; the band just below the horizon (the
# boats, poles and building bases the HDRI shows there) lands on the dome's wall instead of being stretched over tens
# of metres of floor into radial smears. The sky and the floor use the same mapping, so where they meet (and where
# a building's base meets the floor) they continue each other for every camera, not only for one at the centre.
# High in the sky the mapping hands over to the plain view ray (the map at infinity).
# The eye must be inside the dome: the radius grows to 1.5x the eye's distance (+2 m) when it is not.
# ``dome_radius <= 0``: no dome (the sky shows the map along the view ray; other look-ups unchanged).
_DOME = """
uniform vec3 proj_centre;           // world metres
uniform float dome_radius;          // metres; <= 0: no dome
float dome_r(vec3 eye) {            // the dome's radius for this eye (metres)
    return max(dome_radius, 1.5 * length(eye - proj_centre) + 2.0);
}
vec3 dome_hit(vec3 eye, vec3 v) {   // v: unit view ray (world); where it leaves the dome, relative to the centre
    vec3 o = eye - proj_centre;
    float r = dome_r(eye);
    float b = dot(o, v);
    float t = -b + sqrt(max(b * b - (dot(o, o) - r * r), 0.0));   // far root: where the ray leaves the sphere
    if (v.z < 0.0) t = min(t, -eye.z / v.z);                        // the flat floor at world z = 0 comes first
    return o + t * v;
}
vec3 dome_dir(vec3 eye, vec3 v) {   // the unit map direction the ray shows
    if (dome_radius <= 0.0) return v;
    // above the horizon the dome hands over to the map at infinity by 20 degrees of elevation (a function of the
    // ray alone, so still continuous), so the sun disc and the clouds stay where the sun light's direction is
    return normalize(mix(normalize(dome_hit(eye, v)), v, smoothstep(0.0, 0.34, v.z)));
}
"""

SKY_FRAG = """#version 330
uniform mat4 p3d_ViewMatrixInverse;
""" + _COMMON + _DOME + """
in vec3 v_dir;
out vec4 o_color;
void main() {
    vec3 d = dome_dir(p3d_ViewMatrixInverse[3].xyz, normalize(v_dir));
    o_color = vec4(tonemap(textureLod(env_map, equirect_uv(d), 0.0).rgb), 1.0);
}
"""
# --- end ground-projected dome ----------------------------------------------------------------------------------

# Ground-projected environment (image-lit scenes): the floor samples the HDRI as three.js's GroundedSkybox and
# Blender's ground projection do. The map is taken as seen from ``proj_centre`` (world metres: the free space's
# centre at ``proj_height`` above the floor, the height the HDRI was shot from); a floor point p shows the map's
# radiance in the direction normalize(p - proj_centre). Far points approach the horizontal, so at the horizon the
# floor shows exactly the sky dome's horizon row: no seam. The map's radiance is the floor's *lit, unshadowed*
# look: it is scaled by (E_sky + E_sun * shadow) / (E_sky + E_sun) (irradiances on an upward surface), so the sun's
# cast shadow still darkens it. The floor's procedural texture adds detail only near the camera (luminance ratio
# to its own 1x1 mip, faded out by ``detail_fade_m``): the map itself is too coarse there.
GROUND_FRAG = """#version 330
uniform struct p3d_LightSourceParameters {
    vec4 color;
    vec4 position;
    sampler2DShadow shadowMap;
    mat4 shadowViewMatrix;
} p3d_LightSource[1];
uniform mat4 p3d_ViewMatrixInverse;
uniform sampler2D p3d_Texture0;
uniform vec3 sh_coeffs[9];
uniform float shadow_bias;
uniform float detail_fade_m;
uniform float ground_match;         // 1: matched ground beyond the smear radius (dome block), 0: off
""" + _COMMON + _DOME + """
in vec3 v_view_position;
in vec4 v_shadow_pos;
in vec2 v_texcoord;
out vec4 o_color;

float shadow_factor() {
    vec3 p = v_shadow_pos.xyz / v_shadow_pos.w;
    if (p.x <= 0.0 || p.x >= 1.0 || p.y <= 0.0 || p.y >= 1.0) return 1.0;
    p.z -= shadow_bias;
    return texture(p3d_LightSource[0].shadowMap, p);
}

void main() {
    vec3 world = (p3d_ViewMatrixInverse * vec4(v_view_position, 1.0)).xyz;
    vec3 eye = p3d_ViewMatrixInverse[3].xyz;
    // the floor is below the eye: dome_dir is the direction to the ray's hit (no hand-over to the sky's rays)
    vec3 hit = dome_hit(eye, normalize(world - eye));
    vec3 d = normalize(hit);
    vec2 uv = equirect_uv(d);
    // derivatives without the jump where the longitude wraps (else one line of the coarsest mip)
    vec2 dx = dFdx(uv), dy = dFdy(uv);
    dx.x -= round(dx.x);
    dy.x -= round(dy.x);
    // --- ground-projected dome: matched ground beyond the smear radius (issue 23 look-2) -----------------------
    // On the flat floor r metres from the centre the map is stretched r / h times more radially than across (h:
    // the centre's height), so anything the HDRI shows there that is not flat ground becomes a radial streak. Past
    // a stretch of 3 the floor fades into a matched ground material: the map blurred isotropically *on the floor*
    // (mip level log2(stretch)) gives the local colour, the floor's procedural texture the detail (two scales,
    // the second rotated, so its tiling does not show). The dome's wall (beyond the floor disc) takes the floor
    // edge's stretch. Each look-up runs only where its weight is not 0 (llvmpipe skips whole blocks).
    float h = max(proj_centre.z, 0.1);
    float r_floor = sqrt(max(dome_r(eye) * dome_r(eye) - h * h, 0.0));
    float stretch = (hit.z + proj_centre.z < 1e-3 ? length(hit.xy) : r_floor) / h;
    float matched = ground_match * smoothstep(3.0, 6.0, stretch);
    vec3 radiance = vec3(0.0);
    if (matched < 1.0) radiance = textureGrad(env_map, uv, dx, dy).rgb * (1.0 - matched);
    if (matched > 0.0) {
        vec2 texels = vec2(textureSize(env_map, 0));
        float lod_hw = 0.5 * log2(max(max(dot(dx * texels, dx * texels), dot(dy * texels, dy * texels)), 1e-8));
        // the blur never reaches above the horizon (else the sky bleeds into the far ground as a bright band):
        // its width (2^lod texels of PI / rows radians) stays below the angle under the horizon, which falls to 0
        // where the wall meets the sky, so ground and sky still meet sharp and continuous
        float below = max(-d.z, 0.0) * texels.y / PI;
        float lod = min(log2(max(stretch, 1.0)), log2(max(below, 1e-6)));
        radiance += textureLod(env_map, uv, max(lod_hw, lod)).rgb * matched;
    }
    // --- end ground-projected dome ------------------------------------------------------------------------------
    // irradiance on an upward surface: SH at +z, sun at its elevation
    vec3 e_sky = max(sh_coeffs[0] * 0.282095 + sh_coeffs[2] * 0.488603 + sh_coeffs[6] * 0.630784, 0.0);
    vec3 l = normalize(mat3(p3d_ViewMatrixInverse) * p3d_LightSource[0].position.xyz);
    vec3 e_sun = p3d_LightSource[0].color.rgb * max(l.z, 0.0);
    vec3 shade = (e_sky + e_sun * shadow_factor()) / max(e_sky + e_sun, vec3(1e-6));
    vec3 tex = texture(p3d_Texture0, v_texcoord).rgb;
    vec3 mean = textureLod(p3d_Texture0, v_texcoord, 16.0).rgb;
    float mean_l = max(dot(mean, vec3(0.2126, 0.7152, 0.0722)), 1e-4);
    float detail = dot(tex, vec3(0.2126, 0.7152, 0.0722)) / mean_l;
    // a second, rotated and scaled sample of the same texture, blurred (mip 3) so it adds no lines of its own, only
    // slow brightness variation (dome block: hides the tiling of the matched ground; the 1x1 mip is the same)
    float detail2 = 1.0;
    if (matched > 0.0) {
        vec2 uv2 = mat2(0.8, -0.6, 0.6, 0.8) * v_texcoord * 0.37 + vec2(0.31, 0.17);
        detail2 = dot(textureLod(p3d_Texture0, uv2, 3.0).rgb, vec3(0.2126, 0.7152, 0.0722)) / mean_l;
    }
    float near = clamp(1.0 - length(world.xy - proj_centre.xy) / detail_fade_m, 0.0, 1.0);
    float amount = max(0.6 * near, 0.7 * matched);
    o_color = vec4(tonemap(radiance * shade * mix(1.0, detail * mix(1.0, detail2, matched), amount)), 1.0);
}
"""

# ------------------------------------------------------------------------------------------------------------------
# Hair strands (cards of the ``hair_strands`` material: hair and eyebrows). Alpha-tested: a pixel whose texture alpha
# is under the cutoff is discarded, so it writes neither colour nor depth (no sorting needed). The cutoff is compared
# with the alpha scaled up by the texture's mip level (``strand_alpha``): mip averaging thins the strands' alpha, and
# without the scaling distant hair would fall apart into holes; every pass (colour, mask, shadow) uses the same
# function so masks and shadows cut out the same pixels. Shading: Kajiya-Kay's anisotropic model as Scheuermann's
# two shifted lobes (a white primary highlight shifted towards the tip, a broader one tinted by the hair colour
# shifted towards the root) around the strand direction, the card's tangent along increasing v (the texture's
# strand axis), taken from screen-space derivatives (CPU skinning moves the vertices; no tangent attribute needed).
# ------------------------------------------------------------------------------------------------------------------

#: alpha below which a hair card's pixel is cut out (the strand material's glTF ``alphaCutoff`` too)
STRAND_CUTOFF = 0.5

_STRAND_ALPHA = """
const float strand_cutoff = %r;
float strand_alpha(sampler2D tex, vec2 uv) {
    vec2 texels = uv * vec2(textureSize(tex, 0));
    vec2 dx = dFdx(texels), dy = dFdy(texels);
    float lod = max(0.5 * log2(max(max(dot(dx, dx), dot(dy, dy)), 1e-8)), 0.0);
    return texture(tex, uv).a * (1.0 + 0.25 * lod);
}
""" % float(STRAND_CUTOFF)

HAIR_FRAG = "#version 330" + _FRAG_UNIFORMS + _COMMON + _STRAND_ALPHA + _FRAG_INPUTS + """float shadow_factor() {
    vec3 p = v_shadow_pos.xyz / v_shadow_pos.w;
    if (p.x <= 0.0 || p.x >= 1.0 || p.y <= 0.0 || p.y >= 1.0) return 1.0;
    p.z -= shadow_bias;
    return texture(p3d_LightSource[0].shadowMap, p);
}

// Kajiya-Kay: the highlight of a thin cylinder along t is sin(t, h)^exponent
float strand_spec(vec3 t, vec3 h, float exponent) {
    float th = dot(t, h);
    return pow(sqrt(max(1.0 - th * th, 0.0)), exponent) * smoothstep(-1.0, 0.0, th);
}

void main() {
    if (strand_alpha(p3d_Texture0, v_texcoord) < strand_cutoff) discard;
    vec4 tex = texture(p3d_Texture0, v_texcoord);
    vec3 base = (p3d_Material.baseColor * v_color * p3d_ColorScale).rgb * tex.rgb;

    vec3 n = normalize(v_view_normal);
    vec3 v = normalize(-v_view_position);
    if (dot(n, v) < 0.0) n = -n;
    // strand direction: d(position)/d(v) from the screen-space derivatives
    vec3 dpx = dFdx(v_view_position), dpy = dFdy(v_view_position);
    vec2 dtx = dFdx(v_texcoord), dty = dFdy(v_texcoord);
    vec3 t = dpy * dtx.x - dpx * dty.x;
    t = length(t) > 1e-12 ? normalize(t - n * dot(t, n)) : normalize(cross(n, vec3(0.0, 0.0, 1.0)) + 1e-6);

    vec3 l = normalize(p3d_LightSource[0].position.xyz);
    vec3 h = normalize(l + v);
    float shadow = shadow_factor();
    // diffuse: wrapped Lambert (light scatters through a strand bundle), energy kept by the 1 / (1 + w)^2 factor
    float wrap = 0.3;
    float diffuse = clamp((dot(n, l) + wrap) / ((1.0 + wrap) * (1.0 + wrap)), 0.0, 1.0);
    vec3 light = p3d_LightSource[0].color.rgb * shadow;
    float gloss = 1.0 - clamp(p3d_Material.roughness, 0.04, 1.0);
    float shift = (tex.r - 0.8) * 0.8;  // per-strand jitter (the texture's grey) breaks up the highlight band
    vec3 t1 = normalize(t + n * (0.12 + shift));
    vec3 t2 = normalize(t + n * (-0.08 + shift));
    float e1 = mix(16.0, 160.0, gloss), e2 = 0.5 * e1;
    vec3 spec = vec3(0.06) * strand_spec(t1, h, e1) + base * 0.25 * strand_spec(t2, h, e2);
    spec *= clamp(dot(n, l) * 2.0 + 0.5, 0.0, 1.0);  // no highlight on the unlit side
    vec3 direct = light * (base * diffuse / PI + spec);

    mat3 view_to_world = mat3(p3d_ViewMatrixInverse);
    vec3 wn = normalize(view_to_world * n);
    vec3 irradiance = max(irradiance_from_sh(wn), 0.0);
    // the environment's highlight along the strands: the sky's irradiance reflected about the tangent's normal plane
    vec3 ambient_spec = max(irradiance_from_sh(normalize(view_to_world * reflect(-v, n))), 0.0) / PI
        * 0.04 * strand_spec(t1, v, e2);
    vec3 ambient = base * irradiance / PI + ambient_spec;
    o_color = vec4(tonemap(direct + ambient + p3d_Material.emission.rgb), 1.0);
}
"""

# The mask and shadow passes of cut-out geometry: what the colour pass discards is discarded there too (an
# untextured surface samples Panda3D's white default texture, an opaque one alpha 1: both kept). The mask pass draws
# the character white; the shadow pass writes depth only.
CUTOUT_VERT = """#version 330
uniform mat4 p3d_ModelViewProjectionMatrix;
uniform mat4 p3d_TextureMatrix;
in vec4 p3d_Vertex;
in vec2 p3d_MultiTexCoord0;
out vec2 v_texcoord;
void main() {
    v_texcoord = (p3d_TextureMatrix * vec4(p3d_MultiTexCoord0, 0, 1)).xy;
    gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
}
"""

_CUTOUT_FRAG = """#version 330
uniform sampler2D p3d_Texture0;
""" + _STRAND_ALPHA + """
in vec2 v_texcoord;
out vec4 o_color;
void main() {
    if (ALPHA < strand_cutoff) discard;
    o_color = vec4(1.0);
}
"""


def cutout_frag(mip_scaled: bool) -> str:
    """The mask / shadow fragment program of cut-out geometry: ``mip_scaled`` tests the alpha as :data:`HAIR_FRAG`
    does (the ``standard`` look); without, the plain texture alpha as the fixed-function alpha test of the ``draft``
    look does."""
    return _CUTOUT_FRAG.replace("ALPHA", "strand_alpha(p3d_Texture0, v_texcoord)" if mip_scaled
                                else "texture(p3d_Texture0, v_texcoord).a")
