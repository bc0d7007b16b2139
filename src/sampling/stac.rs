//! The STAC side of the sampler: the item search request (STAC API - Item Search, `GET /search` with `bbox`,
//! `datetime` and the `query` extension for the scene cloud limit), the parts of the answer the sampler reads, and the order in which the
//! found scenes are tried.
//!
//! Earth Search v1 items carry `properties.datetime`, `eo:cloud_cover` (percent, the whole scene),
//! `s2:product_uri` (the ESA product name), and assets keyed `red`, `green`, `blue`, `nir`, ..., `scl`, each with an
//! `href` to a COG and `raster:bands` giving `scale` and `offset` (reflectance = DN * scale + offset; processing
//! baseline 04.00 and later have offset -0.1, older scenes 0) and `nodata` (0).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::dates::Date;
use crate::{Error, Result};

/// The parameters of an item search (STAC API - Item Search), sent as `GET <stac-url>/search?...`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    pub collections: Vec<String>,
    /// west, south, east, north (degrees).
    pub bbox: [f64; 4],
    /// `start/end` as RFC 3339 instants.
    pub datetime: String,
    pub limit: usize,
    /// `{"eo:cloud_cover": {"lte": max}}` (query extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<serde_json::Value>,
}

impl SearchRequest {
    /// Scenes of `collection` intersecting `bbox`, acquired on the days `first..=last` (UTC), with at most
    /// `max_cloud_percent` scene cloud cover.
    pub fn new(collection: &str, bbox: [f64; 4], (first, last): (Date, Date), max_cloud_percent: f64) -> Self {
        SearchRequest {
            collections: vec![collection.to_string()],
            bbox,
            datetime: format!("{first}T00:00:00Z/{last}T23:59:59Z"),
            limit: 100,
            query: Some(serde_json::json!({ "eo:cloud_cover": { "lte": max_cloud_percent } })),
        }
    }

    /// The date interval back from `datetime` (the day parts of `start/end`).
    pub fn date_range(&self) -> Option<(Date, Date)> {
        let (a, b) = self.datetime.split_once('/')?;
        Some((Date::parse(a)?, Date::parse(b)?))
    }

    /// The scene cloud limit back from `query`, if any.
    pub fn max_cloud_percent(&self) -> Option<f64> {
        let limit = self.query.as_ref()?.get("eo:cloud_cover")?;
        limit.get("lte").or_else(|| limit.get("lt"))?.as_f64()
    }

    /// The GET query string (without `?`): `collections`, `bbox` comma-separated, `query` as JSON, all
    /// percent-encoded.
    pub fn to_query_string(&self) -> String {
        let join = |v: Vec<String>| v.join(",");
        let mut pairs = vec![
            ("collections", join(self.collections.clone())),
            ("bbox", join(self.bbox.iter().map(|v| v.to_string()).collect())),
            ("datetime", self.datetime.clone()),
            ("limit", self.limit.to_string()),
        ];
        if let Some(query) = &self.query {
            pairs.push(("query", query.to_string()));
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Parses a GET query string back (the loopback STAC API of the tests); `None` if a parameter is missing or
    /// malformed.
    pub fn from_query_string(text: &str) -> Option<Self> {
        let mut map = BTreeMap::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=')?;
            map.insert(percent_decode(k)?, percent_decode(v)?);
        }
        let bbox: Vec<f64> = map
            .get("bbox")?
            .split(',')
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        Some(SearchRequest {
            collections: map.get("collections")?.split(',').map(String::from).collect(),
            bbox: bbox.try_into().ok()?,
            datetime: map.get("datetime")?.clone(),
            limit: map.get("limit").map_or(Some(10), |l| l.parse().ok())?,
            query: match map.get("query") {
                Some(q) => Some(serde_json::from_str(q).ok()?),
                None => None,
            },
        })
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (a space in query strings); `None` on a broken escape or invalid UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The answer of a search: a GeoJSON FeatureCollection of items.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ItemCollection {
    #[serde(default)]
    pub features: Vec<Item>,
}

/// A STAC item: one Sentinel-2 scene (one MGRS tile on one day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<Vec<f64>>,
    pub properties: ItemProperties,
    #[serde(default)]
    pub assets: BTreeMap<String, Asset>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemProperties {
    /// RFC 3339 acquisition instant.
    pub datetime: String,
    #[serde(rename = "eo:cloud_cover", default, skip_serializing_if = "Option::is_none")]
    pub cloud_cover: Option<f64>,
    #[serde(rename = "s2:product_uri", default, skip_serializing_if = "Option::is_none")]
    pub product_uri: Option<String>,
    #[serde(rename = "proj:epsg", default, skip_serializing_if = "Option::is_none")]
    pub epsg: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub href: String,
    #[serde(rename = "raster:bands", default, skip_serializing_if = "Vec::is_empty")]
    pub raster_bands: Vec<RasterBand>,
}

/// STAC raster extension: how stored numbers become physical values.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RasterBand {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodata: Option<f64>,
}

/// Reflectance of a Sentinel-2 L2A band asset: `DN * scale + offset`, with `nodata` marking missing pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Radiometry {
    pub scale: f64,
    pub offset: f64,
    pub nodata: Option<f64>,
}

impl Asset {
    /// The asset's radiometry from `raster:bands`; without it, Sentinel-2's convention (DN / 10000, nodata 0).
    pub fn radiometry(&self) -> Radiometry {
        let band = self.raster_bands.first().copied().unwrap_or_default();
        Radiometry {
            scale: band.scale.unwrap_or(1e-4),
            offset: band.offset.unwrap_or(0.0),
            nodata: Some(band.nodata.unwrap_or(0.0)),
        }
    }
}

impl Item {
    /// The acquisition day (UTC).
    pub fn date(&self) -> Option<Date> {
        Date::parse(&self.properties.datetime)
    }

    /// The product id written to `metadata.json`: the ESA product name without `.SAFE`, else the item id.
    pub fn product_id(&self) -> String {
        match &self.properties.product_uri {
            Some(uri) if !uri.is_empty() => uri.trim_end_matches(".SAFE").to_string(),
            _ => self.id.clone(),
        }
    }

    /// A file-system-safe folder name for the product (the item id with anything but `[A-Za-z0-9._-]` as `_`).
    pub fn folder_name(&self) -> String {
        self.id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// The scenes of `items` worth trying for `target`, best first: those with every asset in `assets`, a known date
/// and at most `max_cloud_percent` scene cloud cover (a server may ignore the query), sorted by cloud cover, then
/// distance in days from `target`, then id.
pub fn candidates<'a>(items: &'a [Item], assets: &[&str], max_cloud_percent: f64, target: Date) -> Vec<&'a Item> {
    let mut found: Vec<(f64, i64, &Item)> = items
        .iter()
        .filter(|item| assets.iter().all(|a| item.assets.contains_key(*a)))
        .filter_map(|item| {
            let cloud = item.properties.cloud_cover.unwrap_or(100.0);
            let date = item.date()?;
            (cloud <= max_cloud_percent).then_some((cloud, (date.to_days() - target.to_days()).abs(), item))
        })
        .collect();
    found.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1.cmp(&b.1))
            .then_with(|| a.2.id.cmp(&b.2.id))
    });
    let mut seen = std::collections::HashSet::new();
    found
        .into_iter()
        .map(|(_, _, item)| item)
        .filter(|item| seen.insert(item.id.as_str()))
        .collect()
}

/// Something that answers STAC item searches.
pub trait StacApi: Sync {
    fn search(&self, request: &SearchRequest) -> Result<ItemCollection>;
}

/// Item search over HTTP with caco's download client (`fetch::http`: retries with backoff on connection errors,
/// 429 and 5xx; errors name the URL).
pub struct HttpStac {
    url: String,
    client: crate::fetch::http::Client,
}

impl HttpStac {
    /// A client of the STAC API at `url` (its root, e.g. [`super::EARTH_SEARCH_URL`]).
    pub fn new(url: &str) -> Self {
        let policy = crate::fetch::http::RetryPolicy {
            retries: 3,
            backoff: std::time::Duration::from_millis(500),
            max_backoff: std::time::Duration::from_secs(10),
            timeout: std::time::Duration::from_secs(60),
        };
        HttpStac {
            url: url.trim_end_matches('/').to_string(),
            client: crate::fetch::http::Client::new(policy),
        }
    }

    pub fn search_url(&self, request: &SearchRequest) -> String {
        format!("{}/search?{}", self.url, request.to_query_string())
    }
}

impl StacApi for HttpStac {
    fn search(&self, request: &SearchRequest) -> Result<ItemCollection> {
        let url = self.search_url(request);
        let text = self.client.get_text(&url)?;
        parse_item_collection(text.as_bytes(), &url)
    }
}

/// Parses a search answer; `source` names the API in errors.
pub fn parse_item_collection(body: &[u8], source: &str) -> Result<ItemCollection> {
    serde_json::from_slice(body).map_err(|e| {
        Error::bad_input(
            source,
            format!(
                "not a STAC item collection: {e} (answer starts {:?})",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of an Earth Search v1 item, trimmed to what the sampler reads plus a few fields it ignores.
    const EARTH_SEARCH_ITEM: &str = r#"{
      "type": "Feature", "stac_version": "1.0.0", "id": "S2A_31TCH_20230126_0_L2A",
      "bbox": [0.53, 42.33, 1.90, 43.34],
      "geometry": {"type": "Polygon", "coordinates": [[[0.53, 43.32], [1.88, 43.34], [1.90, 42.35], [0.53, 43.32]]]},
      "properties": {"datetime": "2023-01-26T10:56:12.238000Z", "platform": "sentinel-2a", "proj:epsg": 32631,
        "eo:cloud_cover": 26.5, "s2:processing_baseline": "05.09",
        "s2:product_uri": "S2A_MSIL2A_20230126T105321_N0509_R051_T31TCH_20230126T170010.SAFE"},
      "assets": {
        "red": {"href": "https://sentinel-cogs.s3.us-west-2.amazonaws.com/x/B04.tif", "type": "image/tiff",
          "raster:bands": [{"nodata": 0, "data_type": "uint16", "spatial_resolution": 10, "scale": 0.0001, "offset": -0.1}]},
        "scl": {"href": "https://sentinel-cogs.s3.us-west-2.amazonaws.com/x/SCL.tif",
          "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}]},
        "thumbnail": {"href": "https://example.com/preview.jpg"}
      },
      "links": []
    }"#;

    #[test]
    fn earth_search_items_parse_with_radiometry_and_product_id() {
        let item: Item = serde_json::from_str(EARTH_SEARCH_ITEM).unwrap();
        assert_eq!(item.date(), Date::new(2023, 1, 26));
        assert_eq!(
            item.product_id(),
            "S2A_MSIL2A_20230126T105321_N0509_R051_T31TCH_20230126T170010"
        );
        assert_eq!(item.properties.cloud_cover, Some(26.5));
        let red = item.assets["red"].radiometry();
        assert_eq!((red.scale, red.offset, red.nodata), (1e-4, -0.1, Some(0.0)));
        // No scale/offset given: DN / 10000.
        let thumbnail = item.assets["thumbnail"].radiometry();
        assert_eq!((thumbnail.scale, thumbnail.offset), (1e-4, 0.0));
        let collection = parse_item_collection(
            format!(r#"{{"type": "FeatureCollection", "features": [{EARTH_SEARCH_ITEM}], "context": {{}}}}"#)
                .as_bytes(),
            "test",
        )
        .unwrap();
        assert_eq!(collection.features, vec![item]);
        let msg = parse_item_collection(b"<html>", "https://x").unwrap_err().to_string();
        assert!(msg.contains("https://x") && msg.contains("<html>"), "{msg}");
    }

    #[test]
    fn search_request_round_trips_through_its_query_string() {
        let window = (Date::new(2021, 3, 3).unwrap(), Date::new(2021, 3, 17).unwrap());
        let request = SearchRequest::new("sentinel-2-l2a", [2.3, 48.8, 2.4, 48.9], window, 20.0);
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["bbox"], serde_json::json!([2.3, 48.8, 2.4, 48.9]));
        assert_eq!(json["datetime"], "2021-03-03T00:00:00Z/2021-03-17T23:59:59Z");
        assert_eq!(json["query"]["eo:cloud_cover"]["lte"], 20.0);
        let back: SearchRequest = serde_json::from_value(json).unwrap();
        assert_eq!(
            (back.date_range(), back.max_cloud_percent()),
            (Some(window), Some(20.0))
        );
    }

    fn item(id: &str, date: &str, cloud: Option<f64>, assets: &[&str]) -> Item {
        Item {
            id: id.into(),
            bbox: None,
            properties: ItemProperties {
                datetime: format!("{date}T10:00:00Z"),
                cloud_cover: cloud,
                product_uri: None,
                epsg: None,
            },
            assets: assets
                .iter()
                .map(|a| {
                    (
                        a.to_string(),
                        Asset {
                            href: format!("http://x/{id}/{a}.tif"),
                            raster_bands: vec![],
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn candidates_are_the_least_cloudy_complete_scenes_first() {
        let full = ["red", "scl"];
        let items = vec![
            item("far", "2021-03-03", Some(1.0), &full),
            item("near", "2021-03-10", Some(1.0), &full),
            item("clear", "2021-03-16", Some(0.5), &full),
            item("cloudy", "2021-03-10", Some(35.0), &full),
            item("no-scl", "2021-03-10", Some(0.0), &["red"]),
            item("unknown-cloud", "2021-03-10", None, &full),
            item("near", "2021-03-10", Some(1.0), &full),
        ];
        let target = Date::new(2021, 3, 10).unwrap();
        let ids: Vec<&str> = candidates(&items, &full, 20.0, target)
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(ids, ["clear", "near", "far"]);
        assert!(candidates(&items, &full, 0.1, target).is_empty());
        assert_eq!(item("a/b c", "2021-01-01", None, &[]).folder_name(), "a_b_c");
    }
}
