//! The datasets `caco data-download` knows: official location, checksum, size, license and the folder the readers
//! expect. Every URL and checksum below is copied from the source cited beside it; none is guessed. Where no checksum
//! is published, the first complete download's SHA-256 is recorded and later downloads are checked against it
//! (trust on first use).

/// A checksum published by the data's authors or by a well-known loader of the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    Md5(String),
    Sha256(String),
}

impl Checksum {
    pub fn algorithm(&self) -> &'static str {
        match self {
            Checksum::Md5(_) => "md5",
            Checksum::Sha256(_) => "sha256",
        }
    }

    pub fn hex(&self) -> &str {
        match self {
            Checksum::Md5(h) | Checksum::Sha256(h) => h,
        }
    }

    /// Parses `md5:<hex>` / `sha256:<hex>` (Zenodo's form).
    pub fn parse(text: &str) -> Option<Checksum> {
        let (algorithm, hex) = text.split_once(':')?;
        let hex = hex.trim().to_ascii_lowercase();
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        match algorithm.trim().to_ascii_lowercase().as_str() {
            "md5" => Some(Checksum::Md5(hex)),
            "sha256" => Some(Checksum::Sha256(hex)),
            _ => None,
        }
    }
}

/// One file at an HTTP(S) location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub url: String,
    /// Name of the local copy.
    pub file: String,
    /// `None`: no published checksum, trust on first use.
    pub checksum: Option<Checksum>,
}

impl Remote {
    pub fn new(url: &str, file: &str, checksum: Option<Checksum>) -> Self {
        Remote {
            url: url.into(),
            file: file.into(),
            checksum,
        }
    }
}

/// Where a dataset's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Files downloaded independently; each archive is extracted and the results merged.
    Files(Vec<Remote>),
    /// Parts of one archive, concatenated in this order into `joined` before extraction.
    Parts { parts: Vec<Remote>, joined: String },
    /// The files of a Zenodo record whose name starts with `prefix`, in name order (a shell glob's order), with the
    /// MD5s the record lists, concatenated into `joined`. `record_api` is the REST address of the record.
    ZenodoParts {
        record_api: String,
        prefix: String,
        joined: String,
        expected_parts: usize,
    },
    /// No automatic download (login, no stable URL): why, and what to do.
    Manual { reason: String, steps: String },
}

/// How the extracted files are arranged into the folder the readers expect. Wrapping folders (a folder alone in its
/// parent, such as EuroSAT's `2750/`) are removed, except those this arrangement names as part of the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrange {
    /// As extracted.
    AsIs,
    /// LEVIR-CD's release (`train/`, `val/`, `test/`, each with `A/`, `B/`, `label/`) to caco's change layout:
    /// `A/`, `B/`, `label/` and `list/{train,val,test}.txt`. A split folder is never removed as a wrapper.
    SplitFoldersToLists,
    /// SeCo / CACo: location folders `{location:06d}/`; a location folder is never removed as a wrapper (a set may
    /// hold a single location).
    LocationFolders,
    /// OSCD: city folders (`<city>/imgs_1/`, `imgs_2/`, `cm/`) from several archives merged; a city folder is never
    /// removed as a wrapper (an archive may hold labels of one city only).
    CityFolders,
}

impl Arrange {
    /// Whether `dir`, alone in its parent, belongs to the layout (and so is not a wrapper to remove).
    pub fn keeps(self, dir: &std::path::Path) -> bool {
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        match self {
            Arrange::AsIs => false,
            Arrange::SplitFoldersToLists => ["train", "val", "test", "A", "B", "label", "list"].contains(&&*name),
            Arrange::LocationFolders => !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()),
            Arrange::CityFolders => ["imgs_1", "imgs_2", "cm"].iter().any(|p| dir.join(p).is_dir()),
        }
    }
}

/// A dataset `caco data-download` can fetch or import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Command-line name.
    pub name: String,
    /// Folder under the data root, as the readers expect it.
    pub folder: String,
    pub title: String,
    /// Download size as published (or "not published").
    pub size: String,
    pub license: String,
    /// The official page.
    pub homepage: String,
    pub source: Source,
    pub arrange: Arrange,
    /// Printed after a successful download: remaining manual steps.
    pub note: Option<String>,
}

impl Dataset {
    /// Whether the bytes can be downloaded without the user's help.
    pub fn is_manual(&self) -> bool {
        matches!(self.source, Source::Manual { .. })
    }
}

fn md5(hex: &str) -> Option<Checksum> {
    Some(Checksum::Md5(hex.into()))
}

/// Every known dataset, in the order of the README's table.
pub fn all() -> Vec<Dataset> {
    vec![
        Dataset {
            name: "eurosat-rgb".into(),
            folder: "eurosat-rgb".into(),
            title: "EuroSAT RGB (Helber et al. 2019), 27,000 64x64 JPEGs, 10 classes".into(),
            size: "about 90 MB".into(),
            license: "MIT (github.com/phelber/EuroSAT)".into(),
            homepage: "https://github.com/phelber/EuroSAT".into(),
            // URL: the authors' README (phelber/EuroSAT). MD5: torchvision's `EuroSAT` dataset, which downloads the
            // same file (torchgeo's mirror of it carries the same MD5).
            source: Source::Files(vec![Remote::new(
                "https://madm.dfki.de/files/sentinel/EuroSAT.zip",
                "EuroSAT.zip",
                md5("c8fa014336c82ac7804f0398fcb19387"),
            )]),
            arrange: Arrange::AsIs,
            note: None,
        },
        Dataset {
            name: "eurosat-ms".into(),
            folder: "eurosat-ms".into(),
            title: "EuroSAT MS, 27,000 64x64 13-band GeoTIFFs".into(),
            size: "about 2 GB".into(),
            license: "MIT (github.com/phelber/EuroSAT)".into(),
            homepage: "https://github.com/phelber/EuroSAT".into(),
            // URL: phelber/EuroSAT's README. MD5: torchgeo's `EuroSAT` (`EuroSATallBands.zip`).
            source: Source::Files(vec![Remote::new(
                "https://madm.dfki.de/files/sentinel/EuroSATallBands.zip",
                "EuroSATallBands.zip",
                md5("5ac12b3b2557aa56e1826e981e8e200e"),
            )]),
            arrange: Arrange::AsIs,
            note: None,
        },
        Dataset {
            name: "seco-100k".into(),
            folder: "seco-100k".into(),
            title: "SeCo-100k (Manas et al. 2021): 5 dates of Sentinel-2 per location, with RGB previews".into(),
            size: "7.3 GB".into(),
            license: "as stated on Zenodo record 4728033 (not verified offline); Copernicus Sentinel-2 data".into(),
            homepage: "https://github.com/ServiceNow/seasonal-contrast".into(),
            // URL and MD5: the Datasets table of ServiceNow/seasonal-contrast's README.
            source: Source::Files(vec![Remote::new(
                "https://zenodo.org/record/4728033/files/seco_100k.zip?download=1",
                "seco_100k.zip",
                md5("ebf2d5e03adc6e657f9a69a20ad863e0"),
            )]),
            arrange: Arrange::LocationFolders,
            note: None,
        },
        Dataset {
            name: "seco-1m".into(),
            folder: "seco-1m".into(),
            title: "SeCo-1M: about 1M Sentinel-2 patches, 5 dates per location".into(),
            size: "36.3 GB".into(),
            license: "as stated on Zenodo record 4728033 (not verified offline); Copernicus Sentinel-2 data".into(),
            homepage: "https://github.com/ServiceNow/seasonal-contrast".into(),
            // URL and MD5: the Datasets table of ServiceNow/seasonal-contrast's README.
            source: Source::Files(vec![Remote::new(
                "https://zenodo.org/record/4728033/files/seco_1m.zip?download=1",
                "seco_1m.zip",
                md5("187963d852d4d3ce6637743ec3a4bd9e"),
            )]),
            arrange: Arrange::LocationFolders,
            note: None,
        },
        Dataset {
            name: "caco-10k".into(),
            folder: "caco-10k".into(),
            title: "CACo-10k (Mall et al. 2023), `clean_10k_geography`: two eras of 5 dates per location".into(),
            size: "not published".into(),
            license: "not stated by the authors (code: MIT); Copernicus Sentinel-2 data".into(),
            homepage: "https://research.cs.cornell.edu/caco".into(),
            // URL: utkarshmall13/CACo, src/sample_training.sh (the README links the folder
            // https://research.cs.cornell.edu/caco/data/caco/). No checksum is published: trust on first use.
            source: Source::Files(vec![Remote::new(
                "https://research.cs.cornell.edu/caco/data/caco/caco10k.tar.gz",
                "caco10k.tar.gz",
                None,
            )]),
            arrange: Arrange::LocationFolders,
            note: None,
        },
        Dataset {
            name: "caco-1m".into(),
            folder: "caco-1m".into(),
            title: "CACo-1M, `clean_1m_geography`, four parts of one .tar.gz on Zenodo".into(),
            size: "listed on Zenodo record 10913174".into(),
            license: "as stated on Zenodo record 10913174 (not verified offline); Copernicus Sentinel-2 data".into(),
            homepage: "https://zenodo.org/records/10913174".into(),
            // Record: utkarshmall13/CACo's README ("1m training set"); the parts and their concatenation
            // (`cat clean_1m_geography_part* > clean_1m_geography.tar.gz`): METHODS.md. The part names and MD5s are
            // read from the record through Zenodo's REST API, so none is written here.
            source: Source::ZenodoParts {
                record_api: "https://zenodo.org/api/records/10913174".into(),
                prefix: "clean_1m_geography_part".into(),
                joined: "clean_1m_geography.tar.gz".into(),
                expected_parts: 4,
            },
            arrange: Arrange::LocationFolders,
            note: None,
        },
        Dataset {
            name: "levir-cd".into(),
            folder: "levir-cd".into(),
            title: "LEVIR-CD (Chen & Shi 2020): 637 pairs of 1024x1024 images at 0.5 m with building-change masks"
                .into(),
            size: "about 2.5 GB (train.zip, val.zip, test.zip)".into(),
            license: "academic use only (authors' terms)".into(),
            homepage: "https://justchenhao.github.io/LEVIR/".into(),
            source: Source::Manual {
                reason: "the authors share it only through Google Drive and Baidu links on the project page, which \
                         have no stable direct-download URL"
                    .into(),
                steps: "open https://justchenhao.github.io/LEVIR/, download train.zip, val.zip and test.zip into one \
                        folder, then run `cargo xtask data download levir-cd --from <that folder>` (or pass a folder \
                        already holding train/, val/ and test/); they are arranged into A/, B/, label/ and \
                        list/{train,val,test}.txt"
                    .into(),
            },
            arrange: Arrange::SplitFoldersToLists,
            note: None,
        },
        Dataset {
            name: "oscd".into(),
            folder: "oscd".into(),
            title: "OSCD (Daudt et al. 2018): 24 Sentinel-2 image pairs with urban change masks".into(),
            size: "about 0.5 GB".into(),
            license: "see the IEEE DataPort page (the authors' terms)".into(),
            homepage: "https://rcdaudt.github.io/oscd/".into(),
            source: Source::Manual {
                reason: "it is distributed through IEEE DataPort, which requires a (free) IEEE account login".into(),
                steps: "log in at IEEE DataPort via https://rcdaudt.github.io/oscd/, download the images archive and \
                        the train and test label archives into one folder, then run \
                        `cargo xtask data download oscd --from <that folder>`: the archives are extracted and merged \
                        so that oscd/<city>/imgs_1/, imgs_2/ and cm/cm.png lie together with train.txt and test.txt"
                    .into(),
            },
            arrange: Arrange::CityFolders,
            note: None,
        },
        Dataset {
            name: "bigearthnet".into(),
            folder: "bigearthnet".into(),
            title: "BigEarthNet-S2 v1.0 (Sumbul et al. 2019): 590,326 Sentinel-2 patches, multi-label".into(),
            size: "66 GB".into(),
            license: "CDLA-Permissive-1.0 (bigearth.net)".into(),
            homepage: "https://bigearth.net".into(),
            // URL and MD5: torchgeo's `BigEarthNet` (metadata["s2"]), the v1.0 archive SeCo evaluated on.
            source: Source::Files(vec![Remote::new(
                "https://bigearth.net/downloads/BigEarthNet-S2-v1.0.tar.gz",
                "BigEarthNet-S2-v1.0.tar.gz",
                md5("5a64e9ce38deb036a435a7b59494924c"),
            )]),
            arrange: Arrange::AsIs,
            note: Some(
                "the split lists are not part of the archive: save bigearthnet-{train,val,test}.txt of Google's \
                 remote_sensing_representations (the lists SeCo used) as bigearthnet/{train,val,test}.txt. \
                 BigEarthNet v2 (.tar.zst) can be imported with --from, but caco's reader reads the v1.0 layout"
                    .into(),
            ),
        },
        Dataset {
            name: "world-cities".into(),
            folder: "world-cities".into(),
            title: "Natural Earth 1:10m populated places (7,300+ cities with population), for location sampling".into(),
            size: "about 13 MB".into(),
            license: "public domain (naturalearthdata.com/about/terms-of-use)".into(),
            homepage: "https://www.naturalearthdata.com/downloads/10m-cultural-vectors/10m-populated-places/".into(),
            // Natural Earth's own GitHub repository (nvkelso/natural-earth-vector, linked from naturalearthdata.com),
            // pinned to the v5.1.2 release so the bytes do not change; GeoJSON, so it reads without GDAL. The
            // shapefile is at https://naciscdn.org/naturalearth/10m/cultural/ne_10m_populated_places.zip.
            // No checksum is published: trust on first use.
            source: Source::Files(vec![Remote::new(
                "https://raw.githubusercontent.com/nvkelso/natural-earth-vector/v5.1.2/geojson/\
                 ne_10m_populated_places.geojson",
                "ne_10m_populated_places.geojson",
                None,
            )]),
            arrange: Arrange::AsIs,
            note: None,
        },
    ]
}

/// The dataset of that command-line name.
pub fn find(name: &str) -> Option<Dataset> {
    all().into_iter().find(|d| d.name == name)
}

/// The known names, comma-separated (for error messages).
pub fn names() -> String {
    all().iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_folders_are_unique_and_every_entry_is_complete() {
        let all = all();
        for (i, d) in all.iter().enumerate() {
            assert!(
                all[..i].iter().all(|e| e.name != d.name && e.folder != d.folder),
                "{}",
                d.name
            );
            assert!(!d.size.is_empty() && !d.license.is_empty() && d.homepage.starts_with("https://"));
            if let Source::Files(files) = &d.source {
                for f in files {
                    assert!(f.url.starts_with("https://") && !f.url.contains(' '), "{}", f.url);
                    if let Some(Checksum::Md5(h)) = &f.checksum {
                        assert_eq!(h.len(), 32, "{}", d.name);
                    }
                }
            }
        }
        // The folder names the readers look for.
        for folder in ["eurosat-rgb", "eurosat-ms", "oscd", "bigearthnet", "levir-cd"] {
            assert!(all.iter().any(|d| d.folder == folder), "{folder}");
        }
    }

    #[test]
    fn parses_zenodo_checksums() {
        assert_eq!(Checksum::parse("md5:ABCDEF01"), Some(Checksum::Md5("abcdef01".into())));
        assert_eq!(Checksum::parse("sha256:00ff"), Some(Checksum::Sha256("00ff".into())));
        assert_eq!(Checksum::parse("crc32:00ff"), None);
        assert_eq!(Checksum::parse("md5:xyz"), None);
    }
}
