"""Geohashes as Redis computes them (geohash.c, geohash_helper.c), so that
GEOADD stores the same 52-bit sorted-set scores as redis-server and a
search visits the same boxes and finds the same members.

Theory of operation
-------------------
A position is encoded on a 2**26 x 2**26 grid over longitude [-180, 180]
and latitude [-85.05112878, 85.05112878] (the Web Mercator limits): the two
26-bit cell numbers are interleaved, latitude in the even bits and longitude
in the odd ones, giving a 52-bit integer that is the member's score (exact
in a double). Decoding returns the centre of the cell.

A radius or box search picks a precision (`steps`) at which the area
around the centre fits in the centre's cell and its eight neighbours
(geohashCalculateAreasByShapeWGS84), drops the neighbours the area cannot
reach, and each remaining cell is a contiguous score range of the sorted
set; every member found there is then checked against the exact shape
(haversine distance on a sphere of radius 6372797.560856 m).

Every operation is written in the C code's order on IEEE doubles (Python
floats, the same libm), because a different rounding would move a point
across a cell or a radius boundary.
"""

from __future__ import annotations

import math

STEP_MAX = 26
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
LONG_MIN, LONG_MAX = -180.0, 180.0
MERCATOR_MAX = 20037726.37
EARTH_RADIUS = 6372797.560856
D_R = math.pi / 180.0

_M64 = 0xFFFFFFFFFFFFFFFF
_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA

Hash = tuple[int, int]  # (bits, step); (0, 0) is "no cell"
Area = tuple[float, float, float, float]  # (long min, long max, lat min, lat max)


def deg_rad(angle: float) -> float:
    return angle * D_R


def rad_deg(angle: float) -> float:
    return angle / D_R


def _spread(v: int) -> int:
    """The 32 bits of v in the even bits of a 64-bit number."""
    v &= 0xFFFFFFFF
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    v = (v | (v << 1)) & 0x5555555555555555
    return v


def _squash(v: int) -> int:
    v &= 0x5555555555555555
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    v = (v | (v >> 16)) & 0x00000000FFFFFFFF
    return v


def encode(longitude: float, latitude: float, step: int,
           lat_range: tuple[float, float] = (LAT_MIN, LAT_MAX),
           long_range: tuple[float, float] = (LONG_MIN, LONG_MAX)) -> Hash | None:
    """geohashEncode: the cell of a position at `step` bits per axis
    (None outside the ranges)."""
    if longitude > LONG_MAX or longitude < LONG_MIN or latitude > LAT_MAX or latitude < LAT_MIN:
        return None
    if not (lat_range[0] <= latitude <= lat_range[1] and long_range[0] <= longitude <= long_range[1]):
        return None
    lat_offset = (latitude - lat_range[0]) / (lat_range[1] - lat_range[0])
    long_offset = (longitude - long_range[0]) / (long_range[1] - long_range[0])
    lat_offset *= float(1 << step)
    long_offset *= float(1 << step)
    return _spread(int(lat_offset)) | (_spread(int(long_offset)) << 1), step


def score(longitude: float, latitude: float) -> int:
    """GEOADD's score: the 52-bit cell at full precision."""
    cell = encode(longitude, latitude, STEP_MAX)
    assert cell is not None
    return align52(cell)


def align52(cell: Hash) -> int:
    bits, step = cell
    return (bits << (52 - step * 2)) & _M64


def decode_area(cell: Hash, lat_range: tuple[float, float] = (LAT_MIN, LAT_MAX),
                long_range: tuple[float, float] = (LONG_MIN, LONG_MAX)) -> Area:
    """geohashDecode: the cell's bounds."""
    bits, step = cell
    ilato = _squash(bits)
    ilono = _squash(bits >> 1)
    lat_scale = lat_range[1] - lat_range[0]
    long_scale = long_range[1] - long_range[0]
    div = float(1 << step)
    return (long_range[0] + (ilono * 1.0 / div) * long_scale,
            long_range[0] + ((ilono + 1) * 1.0 / div) * long_scale,
            lat_range[0] + (ilato * 1.0 / div) * lat_scale,
            lat_range[0] + ((ilato + 1) * 1.0 / div) * lat_scale)


def decode_score(value: float) -> tuple[float, float]:
    """decodeGeohash: (longitude, latitude) of a member's score: the
    centre of its cell, clamped to the valid ranges."""
    lon_min, lon_max, lat_min, lat_max = decode_area((int(value) & _M64, STEP_MAX))
    longitude = (lon_min + lon_max) / 2
    longitude = min(max(longitude, LONG_MIN), LONG_MAX)
    latitude = (lat_min + lat_max) / 2
    latitude = min(max(latitude, LAT_MIN), LAT_MAX)
    return longitude, latitude


GEOALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def standard_hash(value: float) -> bytes:
    """GEOHASH's 11 characters: the position re-encoded on the standard
    [-90, 90] latitude range (the 11th character is always '0')."""
    longitude, latitude = decode_score(value)
    cell = encode(longitude, latitude, STEP_MAX, (-90.0, 90.0), (-180.0, 180.0))
    bits = cell[0] if cell is not None else 0
    out = bytearray()
    for i in range(11):
        idx = 0 if i == 10 else (bits >> (52 - (i + 1) * 5)) & 0x1F
        out.append(GEOALPHABET[idx])
    return bytes(out)


# -- distances ---------------------------------------------------------------------------


def lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS * abs(deg_rad(lat2) - deg_rad(lat1))


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """geohashGetDistance: the haversine great-circle distance in meters."""
    lon1r = deg_rad(lon1)
    lon2r = deg_rad(lon2)
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r = deg_rad(lat1)
    lat2r = deg_rad(lat2)
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS * math.asin(math.sqrt(a))


# -- search areas ---------------------------------------------------------------------------


class Shape:
    """A search: centre, and a radius or a width x height box, in the
    request's unit (`conversion` meters each)."""

    def __init__(self, longitude: float, latitude: float, conversion: float,
                 radius: float | None = None, width: float = 0.0, height: float = 0.0) -> None:
        self.longitude = longitude
        self.latitude = latitude
        self.conversion = conversion
        self.radius = radius  # None: a box
        self.width = width
        self.height = height

    def contains(self, longitude: float, latitude: float) -> float | None:
        """The distance in meters to a point inside the shape, else None
        (geohashGetDistanceIfInRadius / ...IfInRectangle)."""
        if self.radius is not None:
            dist = distance(self.longitude, self.latitude, longitude, latitude)
            return None if dist > self.radius * self.conversion else dist
        width_m = self.width * self.conversion
        height_m = self.height * self.conversion
        if lat_distance(latitude, self.latitude) > height_m / 2:
            return None
        if distance(longitude, latitude, self.longitude, latitude) > width_m / 2:
            return None
        return distance(self.longitude, self.latitude, longitude, latitude)


def _steps_for(range_meters: float, latitude: float) -> int:
    """geohashEstimateStepsByRadius."""
    if range_meters == 0:
        return 26
    step = 1
    while range_meters < MERCATOR_MAX:
        range_meters *= 2
        step += 1
    step -= 2
    if latitude > 66 or latitude < -66:
        step -= 1
        if latitude > 80 or latitude < -80:
            step -= 1
    return min(max(step, 1), 26)


def _bounding_box(shape: Shape) -> tuple[float, float, float, float]:
    """geohashBoundingBox: (min lon, min lat, max lon, max lat)."""
    longitude, latitude = shape.longitude, shape.latitude
    if shape.radius is not None:
        height = shape.conversion * shape.radius
        width = shape.conversion * shape.radius
    else:
        height = shape.conversion * (shape.height / 2)
        width = shape.conversion * (shape.width / 2)
    lat_delta = rad_deg(height / EARTH_RADIUS)
    long_delta_top = rad_deg(width / EARTH_RADIUS / math.cos(deg_rad(latitude + lat_delta)))
    long_delta_bottom = rad_deg(width / EARTH_RADIUS / math.cos(deg_rad(latitude - lat_delta)))
    southern = latitude < 0
    min_lon = longitude - long_delta_bottom if southern else longitude - long_delta_top
    max_lon = longitude + long_delta_bottom if southern else longitude + long_delta_top
    return min_lon, latitude - lat_delta, max_lon, latitude + lat_delta


def _move_x(cell: Hash, d: int) -> Hash:
    bits, step = cell
    x = bits & _ODD
    y = bits & _EVEN
    zz = _EVEN >> (64 - step * 2)
    if d > 0:
        x = (x + (zz + 1)) & _M64
    else:
        x = x | zz
        x = (x - (zz + 1)) & _M64
    x &= _ODD >> (64 - step * 2)
    return x | y, step


def _move_y(cell: Hash, d: int) -> Hash:
    bits, step = cell
    x = bits & _ODD
    y = bits & _EVEN
    zz = _ODD >> (64 - step * 2)
    if d > 0:
        y = (y + (zz + 1)) & _M64
    else:
        y = y | zz
        y = (y - (zz + 1)) & _M64
    y &= _EVEN >> (64 - step * 2)
    return x | y, step


def _neighbours(cell: Hash) -> dict[str, Hash]:
    return {
        "north": _move_y(cell, 1), "south": _move_y(cell, -1),
        "east": _move_x(cell, 1), "west": _move_x(cell, -1),
        "north_east": _move_y(_move_x(cell, 1), 1), "north_west": _move_y(_move_x(cell, -1), 1),
        "south_east": _move_y(_move_x(cell, 1), -1), "south_west": _move_y(_move_x(cell, -1), -1),
    }


_NO_CELL: Hash = (0, 0)
_ORDER = ("north", "south", "east", "west", "north_east", "north_west", "south_east", "south_west")


def search_cells(shape: Shape) -> list[Hash]:
    """geohashCalculateAreasByShapeWGS84: the centre's cell and its
    neighbours, in membersOfAllNeighbors's order; (0, 0) for one left out."""
    min_lon, min_lat, max_lon, max_lat = _bounding_box(shape)
    if shape.radius is not None:
        radius_m = shape.radius
    else:
        radius_m = math.sqrt((shape.width / 2) * (shape.width / 2) + (shape.height / 2) * (shape.height / 2))
    radius_m *= shape.conversion
    steps = _steps_for(radius_m, shape.latitude)
    cell = encode(shape.longitude, shape.latitude, steps)
    assert cell is not None
    near = _neighbours(cell)
    area = decode_area(cell)
    decrease = (decode_area(near["north"])[3] < max_lat or decode_area(near["south"])[2] > min_lat
                or decode_area(near["east"])[1] < max_lon or decode_area(near["west"])[0] > min_lon)
    if steps > 1 and decrease:
        steps -= 1
        cell = encode(shape.longitude, shape.latitude, steps)
        assert cell is not None
        near = _neighbours(cell)
        area = decode_area(cell)
    if steps >= 2:
        lon_lo, lon_hi, lat_lo, lat_hi = area
        if lat_lo < min_lat:
            for name in ("south", "south_west", "south_east"):
                near[name] = _NO_CELL
        if lat_hi > max_lat:
            for name in ("north", "north_east", "north_west"):
                near[name] = _NO_CELL
        if lon_lo < min_lon:
            for name in ("west", "south_west", "north_west"):
                near[name] = _NO_CELL
        if lon_hi > max_lon:
            for name in ("east", "south_east", "north_east"):
                near[name] = _NO_CELL
    return [cell] + [near[name] for name in _ORDER]


def score_range(cell: Hash) -> tuple[int, int]:
    """scoresOfGeoHashBox: [min, max) of the scores inside a cell."""
    bits, step = cell
    return align52(cell), align52((bits + 1, step))
