"""The v3 sandbox's ``application/dcat+xml``: a record as DCAT-AP RDF/XML, as InvenioRDM 13 has it.

Upstream dumps the record's DataCite 4.3 XML and runs the JRC's ``datacite-to-dcat-ap.xsl``
(CiteDCAT-AP, extended profile) over it with lxml, then appends one ``dcat:distribution`` per
file (``invenio_rdm_records/resources/serializers/dcat``). The sandbox writes the same document
itself from the DataCite JSON it already builds (``serializers.datacite``): the mappings below
are the stylesheet's, for the DataCite fields a B2SHARE record produces, held byte for byte to
the real transform offline and by the reference journey (docs/decisions.md, "The reference").
Funding references and geolocations are not mapped (the sandbox's DataCite JSON leaves them
out of the comparison too).

One job: turn a record's DataCite JSON and files into the DCAT-AP document upstream serves.

May import: nothing; never ecasrepro.api, ecasrepro.b2share (the client it serves), or a front end
(ecasrepro.cli, ecasrepro.magic, ecasrepro.compat).
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from typing import Any

XSD = "http://www.w3.org/2001/XMLSchema#"
DCAT = "http://www.w3.org/ns/dcat#"
FOAF = "http://xmlns.com/foaf/0.1/"
DCTYPE = "http://purl.org/dc/dcmitype/"
BIBO = "http://purl.org/ontology/bibo/"
CITEDCAT = "https://w3id.org/citedcat-ap/"
NAMESPACES = (
    ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
    ("adms", "http://www.w3.org/ns/adms#"),
    ("bibo", BIBO),
    ("citedcat", CITEDCAT),
    ("dct", "http://purl.org/dc/terms/"),
    ("dctype", DCTYPE),
    ("dcat", DCAT),
    ("foaf", FOAF),
    ("gsp", "http://www.opengis.net/ont/geosparql#"),
    ("locn", "http://www.w3.org/ns/locn#"),
    ("org", "http://www.w3.org/ns/org#"),
    ("owl", "http://www.w3.org/2002/07/owl#"),
    ("prov", "http://www.w3.org/ns/prov#"),
    ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
    ("skos", "http://www.w3.org/2004/02/skos/core#"),
    ("vcard", "http://www.w3.org/2006/vcard/ns#"),
    ("wdrs", "http://www.w3.org/2007/05/powder-s#"),
)
#: resourceTypeGeneral (lower case) -> (rdf:type URIs, dct:type URIs) the stylesheet writes.
_DS = (f"{DCAT}Dataset",)
RESOURCE_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "audiovisual": (_DS, (f"{DCTYPE}MovingImage",)),
    "book": (_DS, (f"{DCTYPE}Text", f"{BIBO}Book")),
    "bookchapter": (_DS, (f"{DCTYPE}Text", f"{BIBO}Chapter")),
    "collection": (_DS, (f"{DCTYPE}Collection",)),
    "computationalnotebook": (_DS, (f"{DCTYPE}InteractiveResource",)),
    "conferencepaper": (_DS, (f"{DCTYPE}Text",)),
    "conferenceproceeding": (_DS, (f"{DCTYPE}Text", f"{BIBO}Proceedings")),
    "datapaper": (_DS, (f"{CITEDCAT}DataPaper",)),
    "dataset": (_DS, (f"{DCTYPE}Dataset",)),
    "dissertation": (_DS, (f"{DCTYPE}Text", f"{BIBO}Thesis")),
    "event": ((f"{DCAT}Resource", f"{DCTYPE}Event"), (f"{DCTYPE}Event",)),
    "image": (_DS, (f"{DCTYPE}Image",)),
    "interactiveresource": (_DS, (f"{DCTYPE}InteractiveResource",)),
    "journal": (_DS, (f"{DCTYPE}Text", f"{BIBO}Journal")),
    "journalarticle": (_DS, (f"{DCTYPE}Text",)),
    "model": (_DS, (f"{CITEDCAT}Model",)),
    "outputmanagementplan": ((f"{DCAT}Resource",), ()),
    "peerreview": (_DS, (f"{DCTYPE}Text",)),
    "physicalobject": (
        (f"{DCAT}Resource", f"{DCTYPE}PhysicalObject"), (f"{DCTYPE}PhysicalObject",)
    ),
    "preprint": (_DS, (f"{DCTYPE}Text",)),
    "report": (_DS, (f"{DCTYPE}Text", f"{BIBO}Report")),
    "service": ((f"{DCAT}Resource", f"{DCTYPE}Service"), (f"{DCTYPE}Service",)),
    "software": (_DS, (f"{DCTYPE}Software",)),
    "sound": (_DS, (f"{DCTYPE}Sound",)),
    "standard": (_DS, ("http://purl.org/dc/terms/Standard", f"{BIBO}Standard")),
    "text": (_DS, (f"{DCTYPE}Text",)),
    "workflow": (_DS, (f"{CITEDCAT}Workflow",)),
}
#: The stylesheet's $ResourceType: which kinds get their distribution wrapped as a dataset's.
NOT_DATASETS = {"event", "physicalobject", "service", "other", "outputmanagementplan"}
#: relationType (lower case) -> the property naming the related resource.
RELATIONS = {
    "iscitedby": "dct:isReferencedBy", "cites": "bibo:cites",
    "issupplementto": "citedcat:isSupplementTo", "issupplementedby": "citedcat:isSupplementedBy",
    "iscontinuedby": "citedcat:isContinuedBy", "continues": "citedcat:continues",
    "isdescribedby": "wdrs:describedby", "describes": "citedcat:describes",
    "hasmetadata": "foaf:isPrimaryTopicOf", "ismetadatafor": "foaf:primaryTopic",
    "hasversion": "dct:hasVersion", "isversionof": "dct:isVersionOf",
    "isnewversionof": "prov:wasRevisionOf", "ispreviousversionof": "prov:hadRevision",
    "ispartof": "dct:isPartOf", "haspart": "dct:hasPart", "ispublishedin": "dct:isPartOf",
    "isreferencedby": "dct:isReferencedBy", "references": "dct:references",
    "isdocumentedby": "foaf:page", "documents": "foaf:topic",
    "iscompiledby": "citedcat:isCompiledBy", "compiles": "citedcat:compiles",
    "isvariantformof": "citedcat:isVariantFormOf", "isoriginalformof": "citedcat:isOriginalFormOf",
    "isidenticalto": "owl:sameAs", "isreviewedby": "citedcat:isReviewedBy",
    "reviews": "bibo:reviewOf", "isderivedfrom": "dct:source", "issourceof": "prov:hadDerivation",
    "isrequiredby": "dct:isRequiredBy", "requires": "dct:requires",
    "isobsoletedby": "dct:isReplacedBy", "obsoletes": "dct:replaces",
}  # fmt: skip
#: contributorType (lower case) -> property; the project roles also name the agent inside a
#: prov:wasGeneratedBy project; anything else is a dct:contributor.
CONTRIBUTORS = {
    "datacollector": "citedcat:dataCollector", "datacurator": "citedcat:dataCurator",
    "datamanager": "citedcat:dataManager", "distributor": "bibo:distributor",
    "editor": "bibo:editor", "hostinginstitution": "citedcat:hostingInstitution",
    "producer": "bibo:producer", "registrationagency": "citedcat:registrationAgency",
    "registrationauthority": "citedcat:registrationAuthority", "researcher": "citedcat:researcher",
    "researchgroup": "citedcat:researchGroup", "rightsholder": "dct:rightsHolder",
    "sponsor": "citedcat:sponsor", "supervisor": "citedcat:supervisor",
    "workpackageleader": "citedcat:workPackageLeader",
}  # fmt: skip
PROJECT_ROLES = {"projectleader": "citedcat:projectLeader",
                 "projectmanager": "citedcat:projectManager",
                 "projectmember": "citedcat:projectMember"}  # fmt: skip
#: dateType (lower case) -> property; collected is a period, withdrawn adds a status.
DATES = {
    "issued": "dct:issued", "updated": "dct:modified", "created": "dct:created",
    "accepted": "dct:dateAccepted", "available": "dct:available",
    "copyrighted": "dct:dateCopyrighted", "submitted": "dct:dateSubmitted", "valid": "dct:valid",
    "withdrawn": "dct:modified",
}  # fmt: skip
#: The stylesheet's IdentifierURI resolvers (identifier type, lower case -> prefix).
RESOLVERS = {
    "orcid": "https://orcid.org/", "isni": "https://www.isni.org/",
    "grid": "https://www.isni.org/", "crossref funder id": "https://doi.org/",
    "ror": "https://ror.org/", "ark": "http://n2t.net/", "bibcode": "http://adsabs.harvard.edu/abs/",
    "doi": "https://doi.org/", "ean13": "urn:ean-13:", "eissn": "http://issn.org/resource/ISSN/",
    "handle": "https://hdl.handle.net/", "isbn": "urn:isbn:",
    "igsn": "https://hdl.handle.net/10273/",
    "istc": "http://istc-search-beta.peppertag.com/ptproc/IstcSearch?tFrame=IstcListing&"
            "tForceNewQuery=Yes&esfIstc=",
    "issn": "http://issn.org/resource/ISSN/", "lissn": "http://issn.org/resource/ISSN-L/",
    "pmid": "http://www.ncbi.nlm.nih.gov/pubmed/", "upc": "urn:upc:",
}  # fmt: skip
MEDIA_TYPE_ROOTS = {"text", "image", "audio", "video", "application", "multipart", "message"}
IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"
LANGUAGES = "http://publications.europa.eu/resource/authority/language/"
LICENCES = ("http://creativecommons.org/", "https://creativecommons.org/",
            "http://publications.europa.eu/resource/authority/licence/")
WITHDRAWN = "http://publications.europa.eu/resource/authority/dataset-status/WITHDRAWN"


@dataclass
class Node:
    """An XML element, serialised as lxml's pretty printer writes it."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    children: list[Node] = field(default_factory=list)

    def add(self, tag: str, text: str | None = None, **attrs: str) -> Node:
        child = Node(tag, {k.replace("_", ":", 1): v for k, v in attrs.items()}, text)
        self.children.append(child)
        return child

    def lines(self, depth: int, header: str = "") -> list[str]:
        pad = "  " * depth
        attrs = header + "".join(f' {k}="{_attr(v)}"' for k, v in self.attrs.items())
        if self.text:  # lxml writes an empty text as an empty element
            return [f"{pad}<{self.tag}{attrs}>{_text(self.text)}</{self.tag}>"]
        if not self.children:
            return [f"{pad}<{self.tag}{attrs}/>"]
        inner = [line for c in self.children for line in c.lines(depth + 1)]
        return [f"{pad}<{self.tag}{attrs}>", *inner, f"{pad}</{self.tag}>"]


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        "\r", "&#13;"
    )


def _attr(value: str) -> str:
    return (
        _text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")
    )


def _norm(value: Any) -> str:
    """XPath's normalize-space."""
    return " ".join(str(value or "").split())


def identifier_uri(identifier: str, kind: str) -> str:
    """The stylesheet's IdentifierURI: a resolver prefix by identifier type (arXiv drops its
    ``arXiv:``), else the identifier as it is."""
    if kind == "arxiv":
        return "http://arxiv.org/abs/" + identifier.split(":", 1)[1] if ":" in identifier else \
            "http://arxiv.org/abs/"
    return RESOLVERS.get(kind, "") + identifier


def _is_uri(uri: str, urn: bool = False) -> bool:
    low = uri.lower()
    return low.startswith(("http://", "https://")) or (urn and low.startswith("urn:"))


def _agent(parent: Node, tag: str, person: dict[str, Any], rdf_type: str, vcard: bool) -> None:
    name = _norm(person.get("name"))
    family = _norm(person["familyName"]) if "familyName" in person else _norm(
        name.split(",", 1)[0] if "," in name else "")
    given = _norm(person["givenName"]) if "givenName" in person else _norm(
        name.split(",", 1)[1] if "," in name else "")
    ids = person.get("nameIdentifiers") or []
    about = identifier = ""
    if ids:
        first = ids[0]
        uri = identifier_uri(_norm(first.get("nameIdentifier")),
                             _norm(first.get("nameIdentifierScheme")).lower())
        about, identifier = (uri, "") if _is_uri(uri) else ("", uri)
    wrapper = parent.add(tag)
    desc = wrapper.add("rdf:Description", rdf_about=about) if about else wrapper.add(
        "rdf:Description")
    if identifier:
        # Upstream then guesses a URL for it with idutils' scheme detection (not imitated).
        desc.add("dct:identifier", identifier, rdf_datatype=f"{XSD}string")
    desc.add("rdf:type", rdf_resource=rdf_type)
    if vcard:
        desc.add("vcard:fn", name)
        desc.add("vcard:given-name", given)
        desc.add("vcard:family-name", family)
    else:
        desc.add("foaf:name", name)
        if given:
            desc.add("foaf:givenName", given)
        if family:
            desc.add("foaf:familyName", family)
    for affiliation in person.get("affiliation") or []:
        if vcard:
            desc.add("vcard:organization-name", _norm(affiliation.get("name")))
            continue
        org = desc.add("org:memberOf").add("foaf:Organization")
        org.add("foaf:name", _norm(affiliation.get("name")))


def _contributor(parent: Node, person: dict[str, Any]) -> None:
    kind = _norm(person.get("contributorType")).lower()
    organisational = _norm(person.get("nameType")).lower() == "organizational"
    foaf = f"{FOAF}Organization" if organisational else f"{FOAF}Person"
    if kind == "contactperson":
        vcard_type = "Organization" if organisational else "Individual"
        _agent(parent, "dcat:contactPoint", person, f"http://www.w3.org/2006/vcard/ns#{vcard_type}",
               vcard=True)
    elif kind == "researchgroup":
        _agent(parent, CONTRIBUTORS[kind], person, f"{FOAF}Group", vcard=False)
    elif kind == "relatedperson":
        _agent(parent, "dct:contributor", person, f"{FOAF}Person", vcard=False)
    elif kind in PROJECT_ROLES:
        _agent(parent, "dct:contributor", person, foaf, vcard=False)
        project = parent.add("prov:wasGeneratedBy").add("foaf:Project")
        project.add("rdf:type", rdf_resource="http://www.w3.org/ns/prov#Activity")
        _agent(project, PROJECT_ROLES[kind], person, foaf, vcard=False)
    else:
        _agent(parent, CONTRIBUTORS.get(kind, "dct:contributor"), person, foaf, vcard=False)


def _date_type(date: str) -> str:
    return {4: "gYear", 10: "date"}.get(len(date), "dateTime" if len(date) > 10 else "date")


def _date(parent: Node, item: dict[str, Any]) -> None:
    date = _norm(item.get("date"))
    kind = _norm(item.get("dateType")).lower()
    if kind == "collected":
        start, end = date.split("/", 1) if "/" in date else (date, date)
        period = parent.add("dct:temporal").add("dct:PeriodOfTime")
        period.add("dcat:startDate", start, rdf_datatype=XSD + _date_type(start))
        period.add("dcat:endDate", end, rdf_datatype=XSD + _date_type(end))
        return
    parent.add(DATES.get(kind, "dct:date"), date, rdf_datatype=XSD + _date_type(date))
    if kind == "withdrawn":
        parent.add("adms:status", rdf_resource=WITHDRAWN)


def _description(parent: Node, item: dict[str, Any]) -> None:
    text = _norm(item.get("description"))
    if not text:
        return
    kind = _norm(item.get("descriptionType")).lower()
    if kind == "methods":
        parent.add("dct:provenance").add("dct:ProvenanceStatement").add("rdfs:label", text)
    elif kind == "seriesinformation":
        parent.add("bibo:locator", text)
    elif kind == "tableofcontents":
        parent.add("dct:tableOfContents", text)
    else:
        parent.add("dct:description", text)


def _alternate(parent: Node, item: dict[str, Any]) -> None:
    original = _norm(item.get("identifierType"))
    uri = identifier_uri(_norm(item.get("identifier")), original.lower())
    if uri and _is_uri(uri, urn=True):
        parent.add("owl:sameAs", rdf_resource=uri)
        ident = parent.add("adms:identifier").add("adms:Identifier")
        ident.add("skos:notation", uri, rdf_datatype=f"{XSD}anyURI")
    else:
        ident = parent.add("adms:identifier").add("adms:Identifier")
        ident.add("skos:notation", uri)
    if original:
        ident.add("adms:schemeAgency", original)


def _related(parent: Node, item: dict[str, Any]) -> None:
    relation = _norm(item.get("relationType")).lower()
    uri = identifier_uri(_norm(item.get("relatedIdentifier")),
                         _norm(item.get("relatedIdentifierType")).lower())
    tag = RELATIONS.get(relation)
    if tag is None:
        return
    wrapper = parent.add(tag)
    desc = wrapper.add("rdf:Description", rdf_about=uri) if _is_uri(uri) else \
        wrapper.add("rdf:Description")
    desc.add("dct:identifier", uri)
    general = _norm(item.get("resourceTypeGeneral")).lower()
    if general and relation != "hasmetadata":
        _types(desc, general)
    if relation == "hasmetadata":
        desc.add("rdf:type", rdf_resource=f"{DCAT}CatalogRecord")


def _rights(parent: Node, rights: dict[str, Any]) -> None:
    """A licence (Creative Commons, EU vocabularies) as ``dct:license``; any other rights URI as
    a rights statement; rights without a URI are left out. (The stylesheet's access rights, for
    ``info:eu-repo`` and EU access-right URIs, are not mapped: B2SHARE rights never carry them.)"""
    uri = _norm(rights.get("rightsUri"))
    if not uri:
        return
    if uri.startswith(LICENCES):
        parent.add("dct:license", rdf_resource=uri)
        return
    statement = parent.add("dct:rights").add("dct:RightsStatement", rdf_about=uri)
    statement.add("rdfs:label", _norm(rights.get("rights")))
    if _norm(rights.get("rightsIdentifier")):
        ident = statement.add("adms:identifier").add("adms:Identifier")
        ident.add("skos:notation", _norm(rights["rightsIdentifier"]))
        if _norm(rights.get("rightsIdentifierScheme")):
            ident.add("adms:schemeAgency", _norm(rights["rightsIdentifierScheme"]))


def _types(parent: Node, general: str) -> None:
    rdf_types, dct_types = RESOURCE_TYPES.get(general, ((f"{DCAT}Resource",), ()))
    for uri in rdf_types:
        parent.add("rdf:type", rdf_resource=uri)
    for uri in dct_types:
        parent.add("dct:type", rdf_resource=uri)


def dcat(dc: dict[str, Any], files: list[dict[str, str]]) -> str:
    """The DCAT-AP document of DataCite JSON ``dc``; ``files``: ``download_url``, ``size``,
    ``key`` and ``access_url`` (the DOI's URL or ``""``) of each file, in entry order."""
    doi = next((i for i in dc.get("identifiers", []) if i.get("identifierType") == "DOI"), None)
    alternates = [i for i in dc.get("identifiers", []) if i is not doi]
    resource_uri = ""
    if doi is not None:
        uri = identifier_uri(_norm(doi["identifier"]), "doi")
        resource_uri = uri if _is_uri(uri) else ""
    general = _norm((dc.get("types") or {}).get("resourceTypeGeneral")).lower()
    root = Node("rdf:RDF")
    desc = root.add("rdf:Description", rdf_about=resource_uri) if resource_uri else root.add(
        "rdf:Description")
    _types(desc, general)
    if doi is not None:
        uri = identifier_uri(_norm(doi["identifier"]), "doi")
        desc.add("dct:identifier", uri, rdf_datatype=f"{XSD}anyURI")
        desc.add("foaf:page", rdf_resource=uri)
    for creator in dc.get("creators", []):
        organisational = _norm(creator.get("nameType")).lower() == "organizational"
        _agent(desc, "dct:creator", creator,
               f"{FOAF}Organization" if organisational else f"{FOAF}Person", vcard=False)
    for title in dc.get("titles", []):
        kind = _norm(title.get("titleType")).lower()
        if kind in ("", "alternativetitle"):
            desc.add("dct:title" if not kind else "dct:alternative", _norm(title.get("title")))
    if "publisher" in dc:
        desc.add("dct:publisher").add("foaf:Agent").add("foaf:name", _norm(dc["publisher"]))
    if "publicationYear" in dc:
        desc.add("dct:issued", _norm(dc["publicationYear"]), rdf_datatype=f"{XSD}gYear")
    for subject in dc.get("subjects", []):
        label, scheme = _norm(subject.get("subject")), _norm(subject.get("subjectScheme"))
        if scheme:
            concept = desc.add("dct:subject")
            if subject.get("valueURI"):
                concept.attrs["rdf:about"] = subject["valueURI"]
            inner = concept.add("skos:Concept")
            inner.add("skos:prefLabel", label)
            inner.add("skos:inScheme").add("skos:ConceptScheme").add("dct:title", scheme)
        else:
            desc.add("dcat:keyword", label)
    for contributor in dc.get("contributors", []):
        _contributor(desc, contributor)
    for date in dc.get("dates", []):
        _date(desc, date)
    if dc.get("language"):
        desc.add("dct:language", rdf_resource=LANGUAGES + _norm(dc["language"]).upper())
    for alternate in alternates:
        _alternate(desc, alternate)
    for related in dc.get("relatedIdentifiers", []):
        _related(desc, related)
    if dc.get("version") is not None:
        desc.add("owl:versionInfo", _norm(dc["version"]))
    for description in dc.get("descriptions", []):
        _description(desc, description)
    distribution = Node("dcat:Distribution")
    for size in dc.get("sizes", []):
        distribution.add("dct:extent").add("dct:SizeOrDuration").add("rdfs:label", _norm(size))
    for fmt in dc.get("formats", []):
        fmt = _norm(fmt)
        if fmt.split("/", 1)[0] in MEDIA_TYPE_ROOTS and "/" in fmt:
            distribution.add("dcat:mediaType", rdf_resource=IANA_MEDIA_TYPES + fmt)
        else:
            distribution.add("dct:format").add("dct:MediaTypeOrExtent").add("rdfs:label", fmt)
    for rights in dc.get("rightsList", []):
        _rights(distribution, rights)
    if general in NOT_DATASETS or general not in RESOURCE_TYPES:
        desc.children.extend(distribution.children)
    else:
        if resource_uri:
            distribution.add("dcat:accessURL", rdf_resource=resource_uri)
        desc.add("dcat:distribution").children.append(distribution)
    for entry in files:
        dist = desc.add("dcat:distribution").add("dcat:Distribution")
        dist.add("dcat:downloadURL", rdf_resource=entry["download_url"])
        media = mimetypes.guess_type(entry["key"])[0]
        if media:
            dist.add("dcat:mediaType", media)
        dist.add("dcat:byteSize", str(entry["size"]))
        if entry.get("access_url"):
            dist.add("dcat:accessURL", rdf_resource=entry["access_url"])
    header = "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in NAMESPACES)
    body = root.lines(0, header)
    return "\n".join(["<?xml version='1.0' encoding='utf-8'?>", *body]) + "\n"
