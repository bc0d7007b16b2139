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
    /// Split lists: `eurosat-{train,val,test}.txt` (Google's names) become `{train,val,test}.txt`, the folder the
    /// EuroSAT benchmark reads as its split folder ([`name_split_lists`]).
    SplitLists,
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
            Arrange::SplitLists => false,
        }
    }
}

/// Renames `<prefix>-{train,val,test}.txt` in `dir` to `{train,val,test}.txt` (a list already so named wins);
/// then all three must be there, or it is an error naming the missing one.
pub fn name_split_lists(dir: &std::path::Path) -> crate::Result<()> {
    for split in ["train", "val", "test"] {
        let target = dir.join(format!("{split}.txt"));
        if !target.is_file() {
            let suffix = format!("-{split}.txt");
            let named = std::fs::read_dir(dir)
                .map_err(|e| crate::Error::io(dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.is_file() && p.file_name().unwrap_or_default().to_string_lossy().ends_with(&suffix));
            if let Some(source) = named {
                std::fs::rename(&source, &target).map_err(|e| crate::Error::io(&target, e))?;
            }
        }
        if !target.is_file() {
            return Err(crate::Error::bad_input(
                dir,
                format!("no {split}.txt (nor eurosat-{split}.txt): a split folder needs train, val and test lists"),
            ));
        }
    }
    Ok(())
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
            name: "levir-cd-samples".into(),
            folder: "levir-cd-samples".into(),
            title: "LEVIR-CD sample crops: 11 labelled 256x256 pairs (3 train, 1 val, 7 test) of the authors' BIT_CD \
                    repository, a smoke check"
                .into(),
            size: "2.8 MB (33 PNG files)".into(),
            license: "LEVIR-CD imagery: academic research use only (the authors' terms); the repository's license \
                      covers its code"
                .into(),
            homepage: "https://github.com/justchenhao/BIT_CD".into(),
            // The files of justchenhao/BIT_CD's `samples/{A,B,label}` (BIT_CD is by LEVIR-CD's authors), pinned to
            // a commit so the bytes cannot change; `test_113_0256.png` (no label) is left out. SHA-256: computed from
            // a byte-for-byte copy of that commit (../shared/data/levir-cd-samples/SOURCE.md). The split lists are
            // experiments/splits/levir-cd-samples.
            source: Source::Files(levir_cd_samples()),
            arrange: Arrange::AsIs,
            note: None,
        },
        Dataset {
            name: "clcd-train-subset".into(),
            folder: "clcd-train-subset".into(),
            title: "CLCD cropland change (Liu et al. 2022): 512x512 Gaofen-2 pairs; the table reads its train and \
                    val lists"
                .into(),
            size: "about 0.5 GB for all 600 pairs (not published); the committed table's subset: 54 MB".into(),
            license: "research use (the authors' terms; no license is stated)".into(),
            homepage: "https://github.com/liumency/CropLand-CD".into(),
            source: Source::Manual {
                reason: "the authors share it only through OneDrive and Baidu links on the project page, which have \
                         no stable direct-download URL"
                    .into(),
                steps: "open https://github.com/liumency/CropLand-CD, download CLCD (train/, val/ and test/, each \
                        with time1/, time2/ and label/); make a folder with time1/, time2/ and label/ holding the \
                        train and val pairs, and list/train.txt and list/val.txt naming them (one file name a line; \
                        the committed table used the first 48 train pairs, 00000.png-00047.png, and the first 12 val \
                        pairs, 00360.png-00371.png, all of them work too), then run \
                        `cargo xtask data download clcd-train-subset --from <that folder>`"
                    .into(),
            },
            arrange: Arrange::AsIs,
            note: None,
        },
        Dataset {
            name: "dubai-aerial-seg".into(),
            folder: "dubai-aerial-seg".into(),
            title: "Semantic segmentation of aerial imagery (Humans in the Loop, Dubai): 72 RGB tiles, 6 classes"
                .into(),
            size: "about 30 MB".into(),
            license: "CC0 1.0 as stated on its Kaggle page (not verified offline)".into(),
            homepage: "https://www.kaggle.com/datasets/humansintheloop/semantic-segmentation-of-aerial-imagery".into(),
            source: Source::Manual {
                reason: "it is distributed through Kaggle, which requires a (free) account login".into(),
                steps: "log in at Kaggle, download the dataset's archive from \
                        https://www.kaggle.com/datasets/humansintheloop/semantic-segmentation-of-aerial-imagery, then \
                        run `cargo xtask data download dubai-aerial-seg --from <the .zip>`: it is unpacked so that \
                        dubai-aerial-seg/Tile 1/images/image_part_001.jpg exists (split lists: \
                        experiments/splits/dubai-aerial-seg)"
                    .into(),
            },
            arrange: Arrange::AsIs,
            note: None,
        },
        Dataset {
            name: "oscd-subset".into(),
            folder: "oscd-subset".into(),
            title: "OSCD as the table reads it: the release's cities, scored on the split of experiments/splits/\
                    oscd-subset"
                .into(),
            size: "about 0.5 GB (the committed table's 5 cities: 26 MB)".into(),
            license: "images: modified Copernicus Sentinel data; change maps: CC BY-NC-SA (the authors' terms)".into(),
            homepage: "https://rcdaudt.github.io/oscd/".into(),
            source: Source::Manual {
                reason: "it is distributed through IEEE DataPort, which requires a (free) IEEE account login".into(),
                steps: "log in at IEEE DataPort via https://rcdaudt.github.io/oscd/, download the images archive and \
                        the train labels archive into one folder, then run \
                        `cargo xtask data download oscd-subset --from <that folder>` (the table's split, \
                        experiments/splits/oscd-subset, names the 5 cities it was run on)"
                    .into(),
            },
            arrange: Arrange::CityFolders,
            note: None,
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
        ssl4eo_s12(
            "l1c",
            "Level-1C (top of atmosphere), 13 bands",
            "s2_l1c",
            &SSL4EO_S12_L1C_MD5S,
        ),
        ssl4eo_s12(
            "l2a",
            "Level-2A (surface reflectance), 12 bands",
            "s2_l2a",
            &SSL4EO_S12_L2A_MD5S,
        ),
        Dataset {
            name: "eurosat-splits".into(),
            folder: "eurosat-splits".into(),
            title: "EuroSAT train/val/test lists of Google's remote_sensing_representations (16,200/5,400/5,400), \
                    the split SeCo and CACo report"
                .into(),
            size: "about 0.6 MB (not published: 27,000 file names)".into(),
            license: "Apache-2.0 (google-research/google-research, which publishes the lists)".into(),
            homepage: "https://github.com/google-research/google-research/tree/master/remote_sensing_representations"
                .into(),
            // URLs and MD5s: torchgeo's `EuroSAT` (torchgeo/datasets/eurosat.py, `split_urls` and `split_md5s` as
            // added in torchgeo PR #218; torchgeo now serves the same files, same MD5s, from
            // https://hf.co/datasets/torchgeo/eurosat/resolve/1ce6f1bfb56db63fd91b6ecc466ea67f2509774c/).
            source: Source::Files(vec![
                Remote::new(
                    "https://storage.googleapis.com/remote_sensing_representations/eurosat-train.txt",
                    "eurosat-train.txt",
                    md5("908f142e73d6acdf3f482c5e80d851b1"),
                ),
                Remote::new(
                    "https://storage.googleapis.com/remote_sensing_representations/eurosat-val.txt",
                    "eurosat-val.txt",
                    md5("95de90f2aa998f70a3b2416bfe0687b4"),
                ),
                Remote::new(
                    "https://storage.googleapis.com/remote_sensing_representations/eurosat-test.txt",
                    "eurosat-test.txt",
                    md5("7ae5ab94471417b6e315763121e67c5f"),
                ),
            ]),
            arrange: Arrange::SplitLists,
            note: Some(
                "use the lists with `--split-dir <data root>/eurosat-splits` (or `split_dir` in \
                 experiments/eurosat.toml) instead of the seeded split"
                    .into(),
            ),
        },
        Dataset {
            name: "eurosat-splits-caco".into(),
            folder: "eurosat-splits-caco".into(),
            title: "EuroSAT train/val lists of the CACo authors (Mall et al. 2023), with Google's test list".into(),
            size: "about 0.6 MB (not published: 27,000 file names)".into(),
            license: "not stated by the CACo authors (code: MIT); test list Apache-2.0 (google-research)".into(),
            homepage: "https://research.cs.cornell.edu/caco".into(),
            // URLs: utkarshmall13/CACo, notebooks/eurosat_eval_pytorch.ipynb (`splitdownloadurl` + train.txt and
            // val.txt); no checksum is published: trust on first use. CACo publishes no test list (its protocol
            // reports val); test.txt is Google's, URL and MD5 as for `eurosat-splits`.
            source: Source::Files(vec![
                Remote::new(
                    "https://research.cs.cornell.edu/caco/data/eurosat/train.txt",
                    "train.txt",
                    None,
                ),
                Remote::new(
                    "https://research.cs.cornell.edu/caco/data/eurosat/val.txt",
                    "val.txt",
                    None,
                ),
                Remote::new(
                    "https://storage.googleapis.com/remote_sensing_representations/eurosat-test.txt",
                    "eurosat-test.txt",
                    md5("7ae5ab94471417b6e315763121e67c5f"),
                ),
            ]),
            arrange: Arrange::SplitLists,
            note: Some(
                "use the lists with `--split-dir <data root>/eurosat-splits-caco`; test.txt is Google's test list \
                 (CACo publishes train and val only)"
                    .into(),
            ),
        },
    ]
}

/// SSL4EO-S12's Sentinel-2 archives on the authors' Hugging Face copy, pinned to a revision, split in 12 parts
/// `<archive>.tar.gz.partaa` .. `partal`. URL pattern, part names and MD5s: torchgeo's `SSL4EOS12`
/// (torchgeo/datasets/ssl4eo.py, `url`, `filenames`, `checksums`). The DOI copy is mediaTUM record 1660427 (raw) and
/// 1702379 (8-bit): the authors' README (zhu-xlab/SSL4EO-S12), which also states the license (CC-BY-4.0) and the
/// size (about 500 GB per modality). Released per processing level, not per season: each location folder holds
/// its 4 seasons.
fn ssl4eo_s12(level: &str, what: &str, archive: &str, md5s: &[(&str, &str)]) -> Dataset {
    let parts = md5s
        .iter()
        .map(|(suffix, hex)| {
            let file = format!("{archive}.tar.gz.part{suffix}");
            Remote::new(
                &format!(
                    "https://hf.co/datasets/wangyi111/SSL4EO-S12/resolve/3f5ddad68ba2ea29d019b0cef6cf292ff8af0d62/\
                     {archive}/{file}"
                ),
                &file,
                md5(hex),
            )
        })
        .collect();
    Dataset {
        name: format!("ssl4eo-s12-{level}"),
        folder: format!("ssl4eo-s12-{level}"),
        title: format!(
            "SSL4EO-S12 (Wang et al. 2022) Sentinel-2 {what}: 251,079 locations x 4 seasons, 264x264 px at 10 m"
        ),
        size: "about 500 GB (the authors' README: 1.5 TB for S1, S2-L1C and S2-L2A together), in 12 parts".into(),
        license: "CC-BY-4.0 (the authors' README, zhu-xlab/SSL4EO-S12); Copernicus Sentinel-2 data".into(),
        homepage: "https://github.com/zhu-xlab/SSL4EO-S12".into(),
        source: Source::Parts {
            parts,
            joined: format!("{archive}.tar.gz"),
        },
        arrange: Arrange::LocationFolders,
        note: Some(format!(
            "pre-train on it with `layout = \"ssl4eo-s12\"` and `root = \"<data root>/ssl4eo-s12-{level}\"` \
             (experiments/pretrain/seco-ssl4eo-s12.toml)"
        )),
    }
}

/// torchgeo's `SSL4EOS12.checksums["s2c"]` (torchgeo/datasets/ssl4eo.py).
const SSL4EO_S12_L1C_MD5S: [(&str, &str); 12] = [
    ("aa", "a3ef419cc65c4d8ac19b9acc55726166"),
    ("ab", "580451e8fdf93067ad79202b95dd1a5c"),
    ("ac", "a6f7318868f5ba1d94fb9363b50307e4"),
    ("ad", "86f324215b04cdf4242d07aaf3cdfe57"),
    ("ae", "5895a545460f34b1712c17732e0f5533"),
    ("af", "078078bc58d8ecc214ddfd838f796700"),
    ("ag", "3557dd4c24a5942020391a5baaf51abb"),
    ("ah", "d59f89271e414648663d3acb66121761"),
    ("ai", "1a213539c989d16da4e5b4e09feaa98a"),
    ("aj", "0b229af5633c7f63486b6d7771b737db"),
    ("ak", "babe8bed884d31b891151f5717a83b5c"),
    ("al", "8d1f5ad28ee868ab0595c889446b8e5f"),
];

/// torchgeo's `SSL4EOS12.checksums["s2a"]` (torchgeo/datasets/ssl4eo.py).
const SSL4EO_S12_L2A_MD5S: [(&str, &str); 12] = [
    ("aa", "ef847d906ab44cc9a94d086a89473833"),
    ("ab", "4a6a8ed9e2a08887707d83bcb6eb57af"),
    ("ac", "00b706a771df4c4df4cc70a20d790339"),
    ("ad", "579024e84bd9ab0b86e1182792c8dcf9"),
    ("ae", "e259f3536355b665aea490c22c897e59"),
    ("af", "2a15be319ad15f749bfd4ed85d14c172"),
    ("ag", "d8224cff1e727543473b0111e307110c"),
    ("ah", "0015d8aa5ea9201e13b401fd61c36c6f"),
    ("ai", "dfce87c0a9550177fd4b82887902b6e3"),
    ("aj", "688392701760b737ad74cb0e8c7fb731"),
    ("ak", "d8f3e4b110f22f0477973ed2c35586b6"),
    ("al", "1cc3641cd52afedaa1c50d14d84a6664"),
];

/// LEVIR-CD sample crops in justchenhao/BIT_CD at this commit: name, SHA-256 of `A/`, `B/` and `label/`.
const LEVIR_SAMPLES_COMMIT: &str = "adcd7aea6f234586ffffdd4e9959404f96271711";
const LEVIR_SAMPLES: [(&str, [&str; 3]); 11] = [
    ("test_102_0512_0000", ["8e3221cef502953e06538e1ebddfdb609780c0c1cb6366aa3eee9208012aeab3", "c9ec0d2f4f58e3537a1f4685ef16368c5546300d04aef9e8a84d9a6dd3a3cc48", "a4223b16cda4fda2bda583e4232603ad91a8700676d1a977401851fb746818ff"]),
    ("test_121_0768_0256", ["f51526b822696395992565a70f0d2223f6af7c5a1bf1dfef47edc9cd7450e257", "867fdc2fdad0292cc6561e5aab71fc97c8d67bedd6ebd8d1012e094e3b6092b9", "ce1fec32f2d6792ea3eddcea7861899c5985ccdfde61a179098694f28d927a3a"]),
    ("test_2_0000_0000", ["99572d7b22f39f2c3947f817ab857784ab85cdbd1307fa0892d41c564f1966bd", "c37302e1bde614f032291544d371bbe3631f773e3cf4d7130cee5dabfdbae961", "c2094d81c4dbd1739cf5b028dff2bdad9eb0c0c6a8c8150f863fa08de338e107"]),
    ("test_2_0000_0512", ["2b53d8b252e3aa0d205c0d5af432163d4637cc4e6793480ff74d27de5959de10", "a3235f14acf81726e9036f0e4fe16b87e8d59d75975b3e688bf47ee7f532626a", "8d6ce41349c2b149edd5700acc0c42657c2ce553d2f52b39cc795e0924828509"]),
    ("test_55_0256_0000", ["fab174503235b57c43a8cf8b8bf4d4a2fb952990b03ef23aa7b86f3d9eb69cab", "be7248f746cfdb1c592489be9fe23ae2b689961a668f8d047a7b0c398ec94018", "9a4506913ea0880e2deb487bbf59206ff62ad2a1db3935befb34352302b8037d"]),
    ("test_77_0512_0256", ["fe56308b53815e8b8c81705741236a93d1f75948ce3ad66168a0aed56f51684a", "4f53af9029bce438330555c491bbf901b8252eb0062f27351954b5e898eccdaa", "32618a3acc9c976e30915c4689d93cde1d99cba623de625e17b2037b0cf56c9a"]),
    ("test_7_0256_0512", ["b6c49095a63807ed29acaadef7153a4e66e7b22f9fa974c07a58f2831fcfe7f3", "034282f91bfe65709bb147a31f03b4cf713f0980f2da00a576ed30c535628eb0", "bcdb87fed6c57ac3cf5b57439c52824909f888e59322a106b45363b7aae45ef4"]),
    ("train_36_0512_0512", ["faa96e07dc9c4c22be2f5200555712269d260c27977f68f660cc0f1b4cab50cd", "17bc7800c8dd2a467c6ca89b785dbf15dd1923fbd386fa7a4ddce4324ff6ed67", "d3c12f9ac94c0a5c797fd37303cfd04300757ace1bfbd6e1188ef7117f91cf92"]),
    ("train_386_0512_0768", ["47e0a39a005e32b91a465564f7f244ddf3cf4b288909b492d041c83640fa19d5", "c95df4f0d903c88f3c35515b5577c69f9292f88ee953dd5444a8332680f8a11a", "39962cd5bc9f4f0446341d3e6e0c6c37336ddeb2e026a17a3d06bb6cb3266daf"]),
    ("train_412_0512_0768", ["72f3dbbb090874de7c84f445c24d103b9b8a4254c2549d6aa55586ea662cbe25", "7b246772966f5fbd6200cd29656aaf62c9868a46afbd813ad5bbc4ea9a6f6669", "f3942ebb6427992354b09c0c5ed58d9e1b7e33691a5c8e51caacf7bc52a56027"]),
    ("val_27_0000_0256", ["f8791b7acca8632d1684e5aabe9d01a5b30e06b4b8000a71074f038c76a8c5fa", "5b90bf93b8cc5a810dcf4447316a87c93173ffe633f670fb5c421d8d2ad39679", "5db1abaa74eff8c50d2f728f0af7b69165a8b74464f1ae4c6b2716b16687a2d1"]),
];

/// One file per crop and folder, named `A/<crop>.png` etc. so that they land in the reader's folders.
fn levir_cd_samples() -> Vec<Remote> {
    let mut files = Vec::new();
    for (i, folder) in ["A", "B", "label"].iter().enumerate() {
        for (crop, sha256) in LEVIR_SAMPLES {
            files.push(Remote::new(
                &format!(
                    "https://raw.githubusercontent.com/justchenhao/BIT_CD/{LEVIR_SAMPLES_COMMIT}/samples/{folder}/\
                     {crop}.png"
                ),
                &format!("{folder}/{crop}.png"),
                Some(Checksum::Sha256(sha256[i].into())),
            ));
        }
    }
    files
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
                    match &f.checksum {
                        Some(Checksum::Md5(h)) => assert_eq!(h.len(), 32, "{}", d.name),
                        Some(Checksum::Sha256(h)) => assert_eq!(h.len(), 64, "{}", d.name),
                        None => {}
                    }
                }
            }
        }
        // The folder names the readers look for.
        for folder in [
            "eurosat-rgb",
            "eurosat-ms",
            "oscd",
            "bigearthnet",
            "levir-cd",
            "levir-cd-samples",
            "clcd-train-subset",
            "dubai-aerial-seg",
            "oscd-subset",
        ] {
            assert!(all.iter().any(|d| d.folder == folder), "{folder}");
        }
    }

    #[test]
    fn levir_cd_samples_are_one_pinned_checksummed_file_per_crop_and_folder() {
        let Source::Files(files) = find("levir-cd-samples").unwrap().source else {
            panic!("levir-cd-samples: not a list of files");
        };
        assert_eq!(files.len(), 33);
        let mut names: Vec<&str> = files.iter().map(|f| f.file.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 33);
        for f in &files {
            let (folder, crop) = f.file.split_once('/').unwrap();
            assert!(["A", "B", "label"].contains(&folder), "{}", f.file);
            assert!(f.url.contains(LEVIR_SAMPLES_COMMIT) && f.url.ends_with(&format!("samples/{folder}/{crop}")));
            assert!(matches!(f.checksum, Some(Checksum::Sha256(_))), "{}", f.file);
        }
        // The crops named in the committed split lists, and no other.
        let splits = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/splits/levir-cd-samples");
        let mut listed: Vec<String> = Vec::new();
        for split in ["train", "val", "test"] {
            let text = std::fs::read_to_string(splits.join(format!("{split}.txt"))).unwrap();
            listed.extend(text.lines().map(str::to_string));
        }
        listed.sort();
        let mut crops: Vec<String> = LEVIR_SAMPLES.iter().map(|(c, _)| format!("{c}.png")).collect();
        crops.sort();
        assert_eq!(listed, crops);
    }

    #[test]
    fn parses_zenodo_checksums() {
        assert_eq!(Checksum::parse("md5:ABCDEF01"), Some(Checksum::Md5("abcdef01".into())));
        assert_eq!(Checksum::parse("sha256:00ff"), Some(Checksum::Sha256("00ff".into())));
        assert_eq!(Checksum::parse("crc32:00ff"), None);
        assert_eq!(Checksum::parse("md5:xyz"), None);
    }

    #[test]
    fn ssl4eo_s12_levels_are_twelve_checked_parts_of_one_archive() {
        for (name, archive) in [("ssl4eo-s12-l1c", "s2_l1c"), ("ssl4eo-s12-l2a", "s2_l2a")] {
            let d = find(name).unwrap();
            let Source::Parts { parts, joined } = &d.source else {
                panic!("{name}: {:?}", d.source)
            };
            assert_eq!(joined, &format!("{archive}.tar.gz"));
            let suffixes: Vec<String> = parts
                .iter()
                .map(|p| p.file.replace(&format!("{archive}.tar.gz.part"), ""))
                .collect();
            assert_eq!(
                suffixes,
                ["aa", "ab", "ac", "ad", "ae", "af", "ag", "ah", "ai", "aj", "ak", "al"]
            );
            for p in parts {
                assert!(
                    p.url.ends_with(&format!("/{archive}/{}", p.file)) && !p.url.contains(' '),
                    "{}",
                    p.url
                );
                assert!(
                    matches!(&p.checksum, Some(Checksum::Md5(h)) if h.len() == 32),
                    "{}",
                    p.file
                );
            }
            assert!(d.license.contains("CC-BY-4.0") && d.arrange == Arrange::LocationFolders);
        }
    }

    #[test]
    fn split_lists_are_renamed_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("eurosat-train.txt", "a"),
            ("val.txt", "b"),
            ("eurosat-val.txt", "old"),
            ("eurosat-test.txt", "c"),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        name_split_lists(dir.path()).unwrap();
        let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
        assert_eq!(
            (read("train.txt"), read("val.txt"), read("test.txt")),
            ("a".into(), "b".into(), "c".into())
        );
        std::fs::remove_file(dir.path().join("test.txt")).unwrap();
        let msg = name_split_lists(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("no test.txt") && msg.contains(&dir.path().display().to_string()),
            "{msg}"
        );
    }
}
