from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf.internal import python_message as _python_message
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BannerAdType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BannerAdType_UNKNOWN: _ClassVar[BannerAdType]
    XHTML_TEXT_AD: _ClassVar[BannerAdType]
    XHTML_BANNER_AD: _ClassVar[BannerAdType]
    JAVASCRIPT_AD: _ClassVar[BannerAdType]
    IFRAME: _ClassVar[BannerAdType]

class LayoutId(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LayoutId_UNKNOWN: _ClassVar[LayoutId]
    CONTENT_WALL: _ClassVar[LayoutId]
    APP_WALL: _ClassVar[LayoutId]
    NEWS_FEED: _ClassVar[LayoutId]
    CHAT_LIST: _ClassVar[LayoutId]
    CAROUSEL: _ClassVar[LayoutId]
    CONTENT_STREAM: _ClassVar[LayoutId]
    GRID: _ClassVar[LayoutId]

class AdUnitId(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AdUnitId_UNKNOWN: _ClassVar[AdUnitId]
    PAID_SEARCH_UNIT: _ClassVar[AdUnitId]
    RECOMMENDATION_WIDGET: _ClassVar[AdUnitId]
    PROMOTED_LISTING: _ClassVar[AdUnitId]
    IAB_IN_AD_NATIVE: _ClassVar[AdUnitId]
    ADUNITID_CUSTOM: _ClassVar[AdUnitId]

class ContextType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ContextType_UNKNOWN: _ClassVar[ContextType]
    CONTENT: _ClassVar[ContextType]
    SOCIAL: _ClassVar[ContextType]
    PRODUCT: _ClassVar[ContextType]
BannerAdType_UNKNOWN: BannerAdType
XHTML_TEXT_AD: BannerAdType
XHTML_BANNER_AD: BannerAdType
JAVASCRIPT_AD: BannerAdType
IFRAME: BannerAdType
LayoutId_UNKNOWN: LayoutId
CONTENT_WALL: LayoutId
APP_WALL: LayoutId
NEWS_FEED: LayoutId
CHAT_LIST: LayoutId
CAROUSEL: LayoutId
CONTENT_STREAM: LayoutId
GRID: LayoutId
AdUnitId_UNKNOWN: AdUnitId
PAID_SEARCH_UNIT: AdUnitId
RECOMMENDATION_WIDGET: AdUnitId
PROMOTED_LISTING: AdUnitId
IAB_IN_AD_NATIVE: AdUnitId
ADUNITID_CUSTOM: AdUnitId
ContextType_UNKNOWN: ContextType
CONTENT: ContextType
SOCIAL: ContextType
PRODUCT: ContextType

class BidRequest(_message.Message):
    __slots__ = ("id", "imp", "site", "app", "dooh", "device", "user", "test", "at", "tmax", "wseat", "bseat", "allimps", "cur", "wlang", "wlangb", "acat", "bcat", "cattax", "badv", "bapp", "source", "regs", "ext")
    class Ext(_message.Message):
        __slots__ = ()
        Extensions: _python_message._ExtensionDict
        def __init__(self) -> None: ...
    class Source(_message.Message):
        __slots__ = ("fd", "tid", "pchain", "schain", "ext")
        class Ext(_message.Message):
            __slots__ = ("schain", "omidpn", "omidpv")
            Extensions: _python_message._ExtensionDict
            SCHAIN_FIELD_NUMBER: _ClassVar[int]
            OMIDPN_FIELD_NUMBER: _ClassVar[int]
            OMIDPV_FIELD_NUMBER: _ClassVar[int]
            schain: BidRequest.SupplyChain
            omidpn: str
            omidpv: str
            def __init__(self, schain: _Optional[_Union[BidRequest.SupplyChain, _Mapping]] = ..., omidpn: _Optional[str] = ..., omidpv: _Optional[str] = ...) -> None: ...
        FD_FIELD_NUMBER: _ClassVar[int]
        TID_FIELD_NUMBER: _ClassVar[int]
        PCHAIN_FIELD_NUMBER: _ClassVar[int]
        SCHAIN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        fd: bool
        tid: str
        pchain: str
        schain: BidRequest.SupplyChain
        ext: BidRequest.Source.Ext
        def __init__(self, fd: _Optional[bool] = ..., tid: _Optional[str] = ..., pchain: _Optional[str] = ..., schain: _Optional[_Union[BidRequest.SupplyChain, _Mapping]] = ..., ext: _Optional[_Union[BidRequest.Source.Ext, _Mapping]] = ...) -> None: ...
    class SupplyChain(_message.Message):
        __slots__ = ("complete", "nodes", "ver", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        COMPLETE_FIELD_NUMBER: _ClassVar[int]
        NODES_FIELD_NUMBER: _ClassVar[int]
        VER_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        complete: bool
        nodes: _containers.RepeatedCompositeFieldContainer[BidRequest.SupplyChainNode]
        ver: str
        ext: BidRequest.SupplyChain.Ext
        def __init__(self, complete: _Optional[bool] = ..., nodes: _Optional[_Iterable[_Union[BidRequest.SupplyChainNode, _Mapping]]] = ..., ver: _Optional[str] = ..., ext: _Optional[_Union[BidRequest.SupplyChain.Ext, _Mapping]] = ...) -> None: ...
    class SupplyChainNode(_message.Message):
        __slots__ = ("asi", "sid", "rid", "name", "domain", "hp", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ASI_FIELD_NUMBER: _ClassVar[int]
        SID_FIELD_NUMBER: _ClassVar[int]
        RID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        DOMAIN_FIELD_NUMBER: _ClassVar[int]
        HP_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        asi: str
        sid: str
        rid: str
        name: str
        domain: str
        hp: bool
        ext: BidRequest.SupplyChainNode.Ext
        def __init__(self, asi: _Optional[str] = ..., sid: _Optional[str] = ..., rid: _Optional[str] = ..., name: _Optional[str] = ..., domain: _Optional[str] = ..., hp: _Optional[bool] = ..., ext: _Optional[_Union[BidRequest.SupplyChainNode.Ext, _Mapping]] = ...) -> None: ...
    class Imp(_message.Message):
        __slots__ = ("id", "metric", "banner", "video", "audio", "native", "pmp", "displaymanager", "displaymanagerver", "instl", "tagid", "bidfloor", "bidfloorcur", "clickbrowser", "secure", "iframebuster", "rwdd", "ssai", "exp", "qty", "dt", "refresh", "ext")
        class Ext(_message.Message):
            __slots__ = ("gpid", "skadn", "intrinsic", "tid", "igs")
            Extensions: _python_message._ExtensionDict
            GPID_FIELD_NUMBER: _ClassVar[int]
            SKADN_FIELD_NUMBER: _ClassVar[int]
            INTRINSIC_FIELD_NUMBER: _ClassVar[int]
            TID_FIELD_NUMBER: _ClassVar[int]
            IGS_FIELD_NUMBER: _ClassVar[int]
            gpid: str
            skadn: BidRequest.SKAdNetworkRequest
            intrinsic: bool
            tid: str
            igs: BidRequest.InterestGroupAuctionSupport
            def __init__(self, gpid: _Optional[str] = ..., skadn: _Optional[_Union[BidRequest.SKAdNetworkRequest, _Mapping]] = ..., intrinsic: _Optional[bool] = ..., tid: _Optional[str] = ..., igs: _Optional[_Union[BidRequest.InterestGroupAuctionSupport, _Mapping]] = ...) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        METRIC_FIELD_NUMBER: _ClassVar[int]
        BANNER_FIELD_NUMBER: _ClassVar[int]
        VIDEO_FIELD_NUMBER: _ClassVar[int]
        AUDIO_FIELD_NUMBER: _ClassVar[int]
        NATIVE_FIELD_NUMBER: _ClassVar[int]
        PMP_FIELD_NUMBER: _ClassVar[int]
        DISPLAYMANAGER_FIELD_NUMBER: _ClassVar[int]
        DISPLAYMANAGERVER_FIELD_NUMBER: _ClassVar[int]
        INSTL_FIELD_NUMBER: _ClassVar[int]
        TAGID_FIELD_NUMBER: _ClassVar[int]
        BIDFLOOR_FIELD_NUMBER: _ClassVar[int]
        BIDFLOORCUR_FIELD_NUMBER: _ClassVar[int]
        CLICKBROWSER_FIELD_NUMBER: _ClassVar[int]
        SECURE_FIELD_NUMBER: _ClassVar[int]
        IFRAMEBUSTER_FIELD_NUMBER: _ClassVar[int]
        RWDD_FIELD_NUMBER: _ClassVar[int]
        SSAI_FIELD_NUMBER: _ClassVar[int]
        EXP_FIELD_NUMBER: _ClassVar[int]
        QTY_FIELD_NUMBER: _ClassVar[int]
        DT_FIELD_NUMBER: _ClassVar[int]
        REFRESH_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        metric: _containers.RepeatedCompositeFieldContainer[BidRequest.Metric]
        banner: BidRequest.Banner
        video: BidRequest.Video
        audio: BidRequest.Audio
        native: BidRequest.Native
        pmp: BidRequest.Pmp
        displaymanager: str
        displaymanagerver: str
        instl: bool
        tagid: str
        bidfloor: float
        bidfloorcur: str
        clickbrowser: bool
        secure: bool
        iframebuster: _containers.RepeatedScalarFieldContainer[str]
        rwdd: bool
        ssai: int
        exp: int
        qty: BidRequest.Qty
        dt: float
        refresh: BidRequest.Refresh
        ext: BidRequest.Imp.Ext
        def __init__(self, id: _Optional[str] = ..., metric: _Optional[_Iterable[_Union[BidRequest.Metric, _Mapping]]] = ..., banner: _Optional[_Union[BidRequest.Banner, _Mapping]] = ..., video: _Optional[_Union[BidRequest.Video, _Mapping]] = ..., audio: _Optional[_Union[BidRequest.Audio, _Mapping]] = ..., native: _Optional[_Union[BidRequest.Native, _Mapping]] = ..., pmp: _Optional[_Union[BidRequest.Pmp, _Mapping]] = ..., displaymanager: _Optional[str] = ..., displaymanagerver: _Optional[str] = ..., instl: _Optional[bool] = ..., tagid: _Optional[str] = ..., bidfloor: _Optional[float] = ..., bidfloorcur: _Optional[str] = ..., clickbrowser: _Optional[bool] = ..., secure: _Optional[bool] = ..., iframebuster: _Optional[_Iterable[str]] = ..., rwdd: _Optional[bool] = ..., ssai: _Optional[int] = ..., exp: _Optional[int] = ..., qty: _Optional[_Union[BidRequest.Qty, _Mapping]] = ..., dt: _Optional[float] = ..., refresh: _Optional[_Union[BidRequest.Refresh, _Mapping]] = ..., ext: _Optional[_Union[BidRequest.Imp.Ext, _Mapping]] = ...) -> None: ...
    class Metric(_message.Message):
        __slots__ = ("type", "value", "vendor", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        TYPE_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        VENDOR_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        type: str
        value: float
        vendor: str
        ext: BidRequest.Metric.Ext
        def __init__(self, type: _Optional[str] = ..., value: _Optional[float] = ..., vendor: _Optional[str] = ..., ext: _Optional[_Union[BidRequest.Metric.Ext, _Mapping]] = ...) -> None: ...
    class Banner(_message.Message):
        __slots__ = ("format", "w", "h", "btype", "battr", "pos", "mimes", "topframe", "expdir", "api", "id", "vcm", "wmax", "hmax", "wmin", "hmin", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        FORMAT_FIELD_NUMBER: _ClassVar[int]
        W_FIELD_NUMBER: _ClassVar[int]
        H_FIELD_NUMBER: _ClassVar[int]
        BTYPE_FIELD_NUMBER: _ClassVar[int]
        BATTR_FIELD_NUMBER: _ClassVar[int]
        POS_FIELD_NUMBER: _ClassVar[int]
        MIMES_FIELD_NUMBER: _ClassVar[int]
        TOPFRAME_FIELD_NUMBER: _ClassVar[int]
        EXPDIR_FIELD_NUMBER: _ClassVar[int]
        API_FIELD_NUMBER: _ClassVar[int]
        ID_FIELD_NUMBER: _ClassVar[int]
        VCM_FIELD_NUMBER: _ClassVar[int]
        WMAX_FIELD_NUMBER: _ClassVar[int]
        HMAX_FIELD_NUMBER: _ClassVar[int]
        WMIN_FIELD_NUMBER: _ClassVar[int]
        HMIN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        format: _containers.RepeatedCompositeFieldContainer[BidRequest.Format]
        w: int
        h: int
        btype: _containers.RepeatedScalarFieldContainer[int]
        battr: _containers.RepeatedScalarFieldContainer[int]
        pos: int
        mimes: _containers.RepeatedScalarFieldContainer[str]
        topframe: bool
        expdir: _containers.RepeatedScalarFieldContainer[int]
        api: _containers.RepeatedScalarFieldContainer[int]
        id: str
        vcm: bool
        wmax: int
        hmax: int
        wmin: int
        hmin: int
        ext: BidRequest.Banner.Ext
        def __init__(self, format: _Optional[_Iterable[_Union[BidRequest.Format, _Mapping]]] = ..., w: _Optional[int] = ..., h: _Optional[int] = ..., btype: _Optional[_Iterable[int]] = ..., battr: _Optional[_Iterable[int]] = ..., pos: _Optional[int] = ..., mimes: _Optional[_Iterable[str]] = ..., topframe: _Optional[bool] = ..., expdir: _Optional[_Iterable[int]] = ..., api: _Optional[_Iterable[int]] = ..., id: _Optional[str] = ..., vcm: _Optional[bool] = ..., wmax: _Optional[int] = ..., hmax: _Optional[int] = ..., wmin: _Optional[int] = ..., hmin: _Optional[int] = ..., ext: _Optional[_Union[BidRequest.Banner.Ext, _Mapping]] = ...) -> None: ...
    class Format(_message.Message):
        __slots__ = ("w", "h", "wratio", "hratio", "wmin", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        W_FIELD_NUMBER: _ClassVar[int]
        H_FIELD_NUMBER: _ClassVar[int]
        WRATIO_FIELD_NUMBER: _ClassVar[int]
        HRATIO_FIELD_NUMBER: _ClassVar[int]
        WMIN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        w: int
        h: int
        wratio: int
        hratio: int
        wmin: int
        ext: BidRequest.Format.Ext
        def __init__(self, w: _Optional[int] = ..., h: _Optional[int] = ..., wratio: _Optional[int] = ..., hratio: _Optional[int] = ..., wmin: _Optional[int] = ..., ext: _Optional[_Union[BidRequest.Format.Ext, _Mapping]] = ...) -> None: ...
    class Video(_message.Message):
        __slots__ = ("mimes", "minduration", "maxduration", "startdelay", "maxseq", "poddur", "protocols", "w", "h", "podid", "podseq", "rqddurs", "placement", "plcmt", "linearity", "skip", "skipmin", "skipafter", "sequence", "slotinpod", "mincpmpersec", "battr", "maxextended", "minbitrate", "maxbitrate", "boxingallowed", "playbackmethod", "playbackend", "delivery", "pos", "companionad", "api", "companiontype", "poddedupe", "durfloors", "protocol", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        MIMES_FIELD_NUMBER: _ClassVar[int]
        MINDURATION_FIELD_NUMBER: _ClassVar[int]
        MAXDURATION_FIELD_NUMBER: _ClassVar[int]
        STARTDELAY_FIELD_NUMBER: _ClassVar[int]
        MAXSEQ_FIELD_NUMBER: _ClassVar[int]
        PODDUR_FIELD_NUMBER: _ClassVar[int]
        PROTOCOLS_FIELD_NUMBER: _ClassVar[int]
        W_FIELD_NUMBER: _ClassVar[int]
        H_FIELD_NUMBER: _ClassVar[int]
        PODID_FIELD_NUMBER: _ClassVar[int]
        PODSEQ_FIELD_NUMBER: _ClassVar[int]
        RQDDURS_FIELD_NUMBER: _ClassVar[int]
        PLACEMENT_FIELD_NUMBER: _ClassVar[int]
        PLCMT_FIELD_NUMBER: _ClassVar[int]
        LINEARITY_FIELD_NUMBER: _ClassVar[int]
        SKIP_FIELD_NUMBER: _ClassVar[int]
        SKIPMIN_FIELD_NUMBER: _ClassVar[int]
        SKIPAFTER_FIELD_NUMBER: _ClassVar[int]
        SEQUENCE_FIELD_NUMBER: _ClassVar[int]
        SLOTINPOD_FIELD_NUMBER: _ClassVar[int]
        MINCPMPERSEC_FIELD_NUMBER: _ClassVar[int]
        BATTR_FIELD_NUMBER: _ClassVar[int]
        MAXEXTENDED_FIELD_NUMBER: _ClassVar[int]
        MINBITRATE_FIELD_NUMBER: _ClassVar[int]
        MAXBITRATE_FIELD_NUMBER: _ClassVar[int]
        BOXINGALLOWED_FIELD_NUMBER: _ClassVar[int]
        PLAYBACKMETHOD_FIELD_NUMBER: _ClassVar[int]
        PLAYBACKEND_FIELD_NUMBER: _ClassVar[int]
        DELIVERY_FIELD_NUMBER: _ClassVar[int]
        POS_FIELD_NUMBER: _ClassVar[int]
        COMPANIONAD_FIELD_NUMBER: _ClassVar[int]
        API_FIELD_NUMBER: _ClassVar[int]
        COMPANIONTYPE_FIELD_NUMBER: _ClassVar[int]
        PODDEDUPE_FIELD_NUMBER: _ClassVar[int]
        DURFLOORS_FIELD_NUMBER: _ClassVar[int]
        PROTOCOL_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        mimes: _containers.RepeatedScalarFieldContainer[str]
        minduration: int
        maxduration: int
        startdelay: int
        maxseq: int
        poddur: int
        protocols: _containers.RepeatedScalarFieldContainer[int]
        w: int
        h: int
        podid: str
        podseq: int
        rqddurs: _containers.RepeatedScalarFieldContainer[int]
        placement: int
        plcmt: int
        linearity: int
        skip: bool
        skipmin: int
        skipafter: int
        sequence: int
        slotinpod: int
        mincpmpersec: float
        battr: _containers.RepeatedScalarFieldContainer[int]
        maxextended: int
        minbitrate: int
        maxbitrate: int
        boxingallowed: bool
        playbackmethod: _containers.RepeatedScalarFieldContainer[int]
        playbackend: int
        delivery: _containers.RepeatedScalarFieldContainer[int]
        pos: int
        companionad: _containers.RepeatedCompositeFieldContainer[BidRequest.Banner]
        api: _containers.RepeatedScalarFieldContainer[int]
        companiontype: _containers.RepeatedScalarFieldContainer[int]
        poddedupe: _containers.RepeatedScalarFieldContainer[int]
        durfloors: _containers.RepeatedCompositeFieldContainer[BidRequest.DurFloors]
        protocol: int
        ext: BidRequest.Video.Ext
        def __init__(self, mimes: _Optional[_Iterable[str]] = ..., minduration: _Optional[int] = ..., maxduration: _Optional[int] = ..., startdelay: _Optional[int] = ..., maxseq: _Optional[int] = ..., poddur: _Optional[int] = ..., protocols: _Optional[_Iterable[int]] = ..., w: _Optional[int] = ..., h: _Optional[int] = ..., podid: _Optional[str] = ..., podseq: _Optional[int] = ..., rqddurs: _Optional[_Iterable[int]] = ..., placement: _Optional[int] = ..., plcmt: _Optional[int] = ..., linearity: _Optional[int] = ..., skip: _Optional[bool] = ..., skipmin: _Optional[int] = ..., skipafter: _Optional[int] = ..., sequence: _Optional[int] = ..., slotinpod: _Optional[int] = ..., mincpmpersec: _Optional[float] = ..., battr: _Optional[_Iterable[int]] = ..., maxextended: _Optional[int] = ..., minbitrate: _Optional[int] = ..., maxbitrate: _Optional[int] = ..., boxingallowed: _Optional[bool] = ..., playbackmethod: _Optional[_Iterable[int]] = ..., playbackend: _Optional[int] = ..., delivery: _Optional[_Iterable[int]] = ..., pos: _Optional[int] = ..., companionad: _Optional[_Iterable[_Union[BidRequest.Banner, _Mapping]]] = ..., api: _Optional[_Iterable[int]] = ..., companiontype: _Optional[_Iterable[int]] = ..., poddedupe: _Optional[_Iterable[int]] = ..., durfloors: _Optional[_Iterable[_Union[BidRequest.DurFloors, _Mapping]]] = ..., protocol: _Optional[int] = ..., ext: _Optional[_Union[BidRequest.Video.Ext, _Mapping]] = ...) -> None: ...
    class Audio(_message.Message):
        __slots__ = ("mimes", "minduration", "maxduration", "poddur", "protocols", "startdelay", "rqddurs", "podid", "podseq", "sequence", "slotinpod", "mincpmpersec", "battr", "maxextended", "minbitrate", "maxbitrate", "delivery", "companionad", "api", "companiontype", "maxseq", "feed", "stitched", "nvol", "durfloors", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        MIMES_FIELD_NUMBER: _ClassVar[int]
        MINDURATION_FIELD_NUMBER: _ClassVar[int]
        MAXDURATION_FIELD_NUMBER: _ClassVar[int]
        PODDUR_FIELD_NUMBER: _ClassVar[int]
        PROTOCOLS_FIELD_NUMBER: _ClassVar[int]
        STARTDELAY_FIELD_NUMBER: _ClassVar[int]
        RQDDURS_FIELD_NUMBER: _ClassVar[int]
        PODID_FIELD_NUMBER: _ClassVar[int]
        PODSEQ_FIELD_NUMBER: _ClassVar[int]
        SEQUENCE_FIELD_NUMBER: _ClassVar[int]
        SLOTINPOD_FIELD_NUMBER: _ClassVar[int]
        MINCPMPERSEC_FIELD_NUMBER: _ClassVar[int]
        BATTR_FIELD_NUMBER: _ClassVar[int]
        MAXEXTENDED_FIELD_NUMBER: _ClassVar[int]
        MINBITRATE_FIELD_NUMBER: _ClassVar[int]
        MAXBITRATE_FIELD_NUMBER: _ClassVar[int]
        DELIVERY_FIELD_NUMBER: _ClassVar[int]
        COMPANIONAD_FIELD_NUMBER: _ClassVar[int]
        API_FIELD_NUMBER: _ClassVar[int]
        COMPANIONTYPE_FIELD_NUMBER: _ClassVar[int]
        MAXSEQ_FIELD_NUMBER: _ClassVar[int]
        FEED_FIELD_NUMBER: _ClassVar[int]
        STITCHED_FIELD_NUMBER: _ClassVar[int]
        NVOL_FIELD_NUMBER: _ClassVar[int]
        DURFLOORS_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        mimes: _containers.RepeatedScalarFieldContainer[str]
        minduration: int
        maxduration: int
        poddur: int
        protocols: _containers.RepeatedScalarFieldContainer[int]
        startdelay: int
        rqddurs: _containers.RepeatedScalarFieldContainer[int]
        podid: str
        podseq: int
        sequence: int
        slotinpod: int
        mincpmpersec: float
        battr: _containers.RepeatedScalarFieldContainer[int]
        maxextended: int
        minbitrate: int
        maxbitrate: int
        delivery: _containers.RepeatedScalarFieldContainer[int]
        companionad: _containers.RepeatedCompositeFieldContainer[BidRequest.Banner]
        api: _containers.RepeatedScalarFieldContainer[int]
        companiontype: _containers.RepeatedScalarFieldContainer[int]
        maxseq: int
        feed: int
        stitched: bool
        nvol: int
        durfloors: _containers.RepeatedCompositeFieldContainer[BidRequest.DurFloors]
        ext: BidRequest.Audio.Ext
        def __init__(self, mimes: _Optional[_Iterable[str]] = ..., minduration: _Optional[int] = ..., maxduration: _Optional[int] = ..., poddur: _Optional[int] = ..., protocols: _Optional[_Iterable[int]] = ..., startdelay: _Optional[int] = ..., rqddurs: _Optional[_Iterable[int]] = ..., podid: _Optional[str] = ..., podseq: _Optional[int] = ..., sequence: _Optional[int] = ..., slotinpod: _Optional[int] = ..., mincpmpersec: _Optional[float] = ..., battr: _Optional[_Iterable[int]] = ..., maxextended: _Optional[int] = ..., minbitrate: _Optional[int] = ..., maxbitrate: _Optional[int] = ..., delivery: _Optional[_Iterable[int]] = ..., companionad: _Optional[_Iterable[_Union[BidRequest.Banner, _Mapping]]] = ..., api: _Optional[_Iterable[int]] = ..., companiontype: _Optional[_Iterable[int]] = ..., maxseq: _Optional[int] = ..., feed: _Optional[int] = ..., stitched: _Optional[bool] = ..., nvol: _Optional[int] = ..., durfloors: _Optional[_Iterable[_Union[BidRequest.DurFloors, _Mapping]]] = ..., ext: _Optional[_Union[BidRequest.Audio.Ext, _Mapping]] = ...) -> None: ...
    class Native(_message.Message):
        __slots__ = ("request", "request_native", "ver", "api", "battr", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        REQUEST_FIELD_NUMBER: _ClassVar[int]
        REQUEST_NATIVE_FIELD_NUMBER: _ClassVar[int]
        VER_FIELD_NUMBER: _ClassVar[int]
        API_FIELD_NUMBER: _ClassVar[int]
        BATTR_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        request: str
        request_native: NativeRequest
        ver: str
        api: _containers.RepeatedScalarFieldContainer[int]
        battr: _containers.RepeatedScalarFieldContainer[int]
        ext: BidRequest.Native.Ext
        def __init__(self, request: _Optional[str] = ..., request_native: _Optional[_Union[NativeRequest, _Mapping]] = ..., ver: _Optional[str] = ..., api: _Optional[_Iterable[int]] = ..., battr: _Optional[_Iterable[int]] = ..., ext: _Optional[_Union[BidRequest.Native.Ext, _Mapping]] = ...) -> None: ...
    class Qty(_message.Message):
        __slots__ = ("multiplier", "sourcetype", "vendor", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
        SOURCETYPE_FIELD_NUMBER: _ClassVar[int]
        VENDOR_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        multiplier: float
        sourcetype: int
        vendor: str
        ext: BidRequest.Qty.Ext
        def __init__(self, multiplier: _Optional[float] = ..., sourcetype: _Optional[int] = ..., vendor: _Optional[str] = ..., ext: _Optional[_Union[BidRequest.Qty.Ext, _Mapping]] = ...) -> None: ...
    class Refresh(_message.Message):
        __slots__ = ("refsettings", "count", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        REFSETTINGS_FIELD_NUMBER: _ClassVar[int]
        COUNT_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        refsettings: _containers.RepeatedCompositeFieldContainer[BidRequest.RefSettings]
        count: int
        ext: BidRequest.Refresh.Ext
        def __init__(self, refsettings: _Optional[_Iterable[_Union[BidRequest.RefSettings, _Mapping]]] = ..., count: _Optional[int] = ..., ext: _Optional[_Union[BidRequest.Refresh.Ext, _Mapping]] = ...) -> None: ...
    class RefSettings(_message.Message):
        __slots__ = ("reftype", "minint", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        REFTYPE_FIELD_NUMBER: _ClassVar[int]
        MININT_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        reftype: int
        minint: int
        ext: BidRequest.RefSettings.Ext
        def __init__(self, reftype: _Optional[int] = ..., minint: _Optional[int] = ..., ext: _Optional[_Union[BidRequest.RefSettings.Ext, _Mapping]] = ...) -> None: ...
    class Pmp(_message.Message):
        __slots__ = ("private_auction", "deals", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        PRIVATE_AUCTION_FIELD_NUMBER: _ClassVar[int]
        DEALS_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        private_auction: bool
        deals: _containers.RepeatedCompositeFieldContainer[BidRequest.Deal]
        ext: BidRequest.Pmp.Ext
        def __init__(self, private_auction: _Optional[bool] = ..., deals: _Optional[_Iterable[_Union[BidRequest.Deal, _Mapping]]] = ..., ext: _Optional[_Union[BidRequest.Pmp.Ext, _Mapping]] = ...) -> None: ...
    class Deal(_message.Message):
        __slots__ = ("id", "bidfloor", "bidfloorcur", "at", "wseat", "wadomain", "guar", "mincpmpersec", "durfloors", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        BIDFLOOR_FIELD_NUMBER: _ClassVar[int]
        BIDFLOORCUR_FIELD_NUMBER: _ClassVar[int]
        AT_FIELD_NUMBER: _ClassVar[int]
        WSEAT_FIELD_NUMBER: _ClassVar[int]
        WADOMAIN_FIELD_NUMBER: _ClassVar[int]
        GUAR_FIELD_NUMBER: _ClassVar[int]
        MINCPMPERSEC_FIELD_NUMBER: _ClassVar[int]
        DURFLOORS_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        bidfloor: float
        bidfloorcur: str
        at: int
        wseat: _containers.RepeatedScalarFieldContainer[str]
        wadomain: _containers.RepeatedScalarFieldContainer[str]
        guar: int
        mincpmpersec: float
        durfloors: _containers.RepeatedCompositeFieldContainer[BidRequest.DurFloors]
        ext: BidRequest.Deal.Ext
        def __init__(self, id: _Optional[str] = ..., bidfloor: _Optional[float] = ..., bidfloorcur: _Optional[str] = ..., at: _Optional[int] = ..., wseat: _Optional[_Iterable[str]] = ..., wadomain: _Optional[_Iterable[str]] = ..., guar: _Optional[int] = ..., mincpmpersec: _Optional[float] = ..., durfloors: _Optional[_Iterable[_Union[BidRequest.DurFloors, _Mapping]]] = ..., ext: _Optional[_Union[BidRequest.Deal.Ext, _Mapping]] = ...) -> None: ...
    class SKAdNetworkList(_message.Message):
        __slots__ = ("max", "excl", "addl", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        MAX_FIELD_NUMBER: _ClassVar[int]
        EXCL_FIELD_NUMBER: _ClassVar[int]
        ADDL_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        max: int
        excl: _containers.RepeatedScalarFieldContainer[int]
        addl: _containers.RepeatedScalarFieldContainer[str]
        ext: BidRequest.SKAdNetworkList.Ext
        def __init__(self, max: _Optional[int] = ..., excl: _Optional[_Iterable[int]] = ..., addl: _Optional[_Iterable[str]] = ..., ext: _Optional[_Union[BidRequest.SKAdNetworkList.Ext, _Mapping]] = ...) -> None: ...
    class SKAdNetworkRequest(_message.Message):
        __slots__ = ("versions", "version", "sourceapp", "skadnetids", "skadnetlist", "productpage", "skoverlay", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        VERSIONS_FIELD_NUMBER: _ClassVar[int]
        VERSION_FIELD_NUMBER: _ClassVar[int]
        SOURCEAPP_FIELD_NUMBER: _ClassVar[int]
        SKADNETIDS_FIELD_NUMBER: _ClassVar[int]
        SKADNETLIST_FIELD_NUMBER: _ClassVar[int]
        PRODUCTPAGE_FIELD_NUMBER: _ClassVar[int]
        SKOVERLAY_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        versions: _containers.RepeatedScalarFieldContainer[str]
        version: str
        sourceapp: str
        skadnetids: _containers.RepeatedScalarFieldContainer[str]
        skadnetlist: BidRequest.SKAdNetworkList
        productpage: bool
        skoverlay: bool
        ext: BidRequest.SKAdNetworkRequest.Ext
        def __init__(self, versions: _Optional[_Iterable[str]] = ..., version: _Optional[str] = ..., sourceapp: _Optional[str] = ..., skadnetids: _Optional[_Iterable[str]] = ..., skadnetlist: _Optional[_Union[BidRequest.SKAdNetworkList, _Mapping]] = ..., productpage: _Optional[bool] = ..., skoverlay: _Optional[bool] = ..., ext: _Optional[_Union[BidRequest.SKAdNetworkRequest.Ext, _Mapping]] = ...) -> None: ...
    class InterestGroupAuctionSupport(_message.Message):
        __slots__ = ("ae", "biddable")
        class AuctionEnvironment(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            IG_AUCTION_NOT_SUPPORTED: _ClassVar[BidRequest.InterestGroupAuctionSupport.AuctionEnvironment]
            ON_DEVICE_ORCHESTRATED_IG_AUCTION: _ClassVar[BidRequest.InterestGroupAuctionSupport.AuctionEnvironment]
            SERVER_ORCHESTRATED_IG_AUCTION: _ClassVar[BidRequest.InterestGroupAuctionSupport.AuctionEnvironment]
        IG_AUCTION_NOT_SUPPORTED: BidRequest.InterestGroupAuctionSupport.AuctionEnvironment
        ON_DEVICE_ORCHESTRATED_IG_AUCTION: BidRequest.InterestGroupAuctionSupport.AuctionEnvironment
        SERVER_ORCHESTRATED_IG_AUCTION: BidRequest.InterestGroupAuctionSupport.AuctionEnvironment
        AE_FIELD_NUMBER: _ClassVar[int]
        BIDDABLE_FIELD_NUMBER: _ClassVar[int]
        ae: int
        biddable: bool
        def __init__(self, ae: _Optional[int] = ..., biddable: _Optional[bool] = ...) -> None: ...
    class Site(_message.Message):
        __slots__ = ("id", "name", "domain", "cattax", "cat", "sectioncat", "pagecat", "page", "ref", "search", "mobile", "privacypolicy", "publisher", "content", "keywords", "kwarray", "inventorypartnerdomain", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        DOMAIN_FIELD_NUMBER: _ClassVar[int]
        CATTAX_FIELD_NUMBER: _ClassVar[int]
        CAT_FIELD_NUMBER: _ClassVar[int]
        SECTIONCAT_FIELD_NUMBER: _ClassVar[int]
        PAGECAT_FIELD_NUMBER: _ClassVar[int]
        PAGE_FIELD_NUMBER: _ClassVar[int]
        REF_FIELD_NUMBER: _ClassVar[int]
        SEARCH_FIELD_NUMBER: _ClassVar[int]
        MOBILE_FIELD_NUMBER: _ClassVar[int]
        PRIVACYPOLICY_FIELD_NUMBER: _ClassVar[int]
        PUBLISHER_FIELD_NUMBER: _ClassVar[int]
        CONTENT_FIELD_NUMBER: _ClassVar[int]
        KEYWORDS_FIELD_NUMBER: _ClassVar[int]
        KWARRAY_FIELD_NUMBER: _ClassVar[int]
        INVENTORYPARTNERDOMAIN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        name: str
        domain: str
        cattax: int
        cat: _containers.RepeatedScalarFieldContainer[str]
        sectioncat: _containers.RepeatedScalarFieldContainer[str]
        pagecat: _containers.RepeatedScalarFieldContainer[str]
        page: str
        ref: str
        search: str
        mobile: bool
        privacypolicy: bool
        publisher: BidRequest.Publisher
        content: BidRequest.Content
        keywords: str
        kwarray: _containers.RepeatedScalarFieldContainer[str]
        inventorypartnerdomain: str
        ext: BidRequest.Site.Ext
        def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., domain: _Optional[str] = ..., cattax: _Optional[int] = ..., cat: _Optional[_Iterable[str]] = ..., sectioncat: _Optional[_Iterable[str]] = ..., pagecat: _Optional[_Iterable[str]] = ..., page: _Optional[str] = ..., ref: _Optional[str] = ..., search: _Optional[str] = ..., mobile: _Optional[bool] = ..., privacypolicy: _Optional[bool] = ..., publisher: _Optional[_Union[BidRequest.Publisher, _Mapping]] = ..., content: _Optional[_Union[BidRequest.Content, _Mapping]] = ..., keywords: _Optional[str] = ..., kwarray: _Optional[_Iterable[str]] = ..., inventorypartnerdomain: _Optional[str] = ..., ext: _Optional[_Union[BidRequest.Site.Ext, _Mapping]] = ...) -> None: ...
    class App(_message.Message):
        __slots__ = ("id", "name", "bundle", "domain", "storeurl", "cattax", "cat", "sectioncat", "pagecat", "ver", "privacypolicy", "paid", "publisher", "content", "keywords", "kwarray", "inventorypartnerdomain", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        BUNDLE_FIELD_NUMBER: _ClassVar[int]
        DOMAIN_FIELD_NUMBER: _ClassVar[int]
        STOREURL_FIELD_NUMBER: _ClassVar[int]
        CATTAX_FIELD_NUMBER: _ClassVar[int]
        CAT_FIELD_NUMBER: _ClassVar[int]
        SECTIONCAT_FIELD_NUMBER: _ClassVar[int]
        PAGECAT_FIELD_NUMBER: _ClassVar[int]
        VER_FIELD_NUMBER: _ClassVar[int]
        PRIVACYPOLICY_FIELD_NUMBER: _ClassVar[int]
        PAID_FIELD_NUMBER: _ClassVar[int]
        PUBLISHER_FIELD_NUMBER: _ClassVar[int]
        CONTENT_FIELD_NUMBER: _ClassVar[int]
        KEYWORDS_FIELD_NUMBER: _ClassVar[int]
        KWARRAY_FIELD_NUMBER: _ClassVar[int]
        INVENTORYPARTNERDOMAIN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        name: str
        bundle: str
        domain: str
        storeurl: str
        cattax: int
        cat: _containers.RepeatedScalarFieldContainer[str]
        sectioncat: _containers.RepeatedScalarFieldContainer[str]
        pagecat: _containers.RepeatedScalarFieldContainer[str]
        ver: str
        privacypolicy: bool
        paid: bool
        publisher: BidRequest.Publisher
        content: BidRequest.Content
        keywords: str
        kwarray: _containers.RepeatedScalarFieldContainer[str]
        inventorypartnerdomain: str
        ext: BidRequest.App.Ext
        def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., bundle: _Optional[str] = ..., domain: _Optional[str] = ..., storeurl: _Optional[str] = ..., cattax: _Optional[int] = ..., cat: _Optional[_Iterable[str]] = ..., sectioncat: _Optional[_Iterable[str]] = ..., pagecat: _Optional[_Iterable[str]] = ..., ver: _Optional[str] = ..., privacypolicy: _Optional[bool] = ..., paid: _Optional[bool] = ..., publisher: _Optional[_Union[BidRequest.Publisher, _Mapping]] = ..., content: _Optional[_Union[BidRequest.Content, _Mapping]] = ..., keywords: _Optional[str] = ..., kwarray: _Optional[_Iterable[str]] = ..., inventorypartnerdomain: _Optional[str] = ..., ext: _Optional[_Union[BidRequest.App.Ext, _Mapping]] = ...) -> None: ...
    class Dooh(_message.Message):
        __slots__ = ("id", "name", "venuetype", "venuetypetax", "publisher", "domain", "keywords", "content", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        VENUETYPE_FIELD_NUMBER: _ClassVar[int]
        VENUETYPETAX_FIELD_NUMBER: _ClassVar[int]
        PUBLISHER_FIELD_NUMBER: _ClassVar[int]
        DOMAIN_FIELD_NUMBER: _ClassVar[int]
        KEYWORDS_FIELD_NUMBER: _ClassVar[int]
        CONTENT_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        name: str
        venuetype: _containers.RepeatedScalarFieldContainer[str]
        venuetypetax: int
        publisher: BidRequest.Publisher
        domain: str
        keywords: str
        content: BidRequest.Content
        ext: BidRequest.Dooh.Ext
        def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., venuetype: _Optional[_Iterable[str]] = ..., venuetypetax: _Optional[int] = ..., publisher: _Optional[_Union[BidRequest.Publisher, _Mapping]] = ..., domain: _Optional[str] = ..., keywords: _Optional[str] = ..., content: _Optional[_Union[BidRequest.Content, _Mapping]] = ..., ext: _Optional[_Union[BidRequest.Dooh.Ext, _Mapping]] = ...) -> None: ...
    class Publisher(_message.Message):
        __slots__ = ("id", "name", "cattax", "cat", "domain", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        CATTAX_FIELD_NUMBER: _ClassVar[int]
        CAT_FIELD_NUMBER: _ClassVar[int]
        DOMAIN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        name: str
        cattax: int
        cat: _containers.RepeatedScalarFieldContainer[str]
        domain: str
        ext: BidRequest.Publisher.Ext
        def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., cattax: _Optional[int] = ..., cat: _Optional[_Iterable[str]] = ..., domain: _Optional[str] = ..., ext: _Optional[_Union[BidRequest.Publisher.Ext, _Mapping]] = ...) -> None: ...
    class Content(_message.Message):
        __slots__ = ("id", "episode", "title", "series", "season", "artist", "genre", "gtax", "genres", "album", "isrc", "producer", "url", "cattax", "cat", "prodq", "context", "contentrating", "userrating", "qagmediarating", "keywords", "kwarray", "livestream", "sourcerelationship", "len", "language", "langb", "embeddable", "data", "network", "channel", "videoquality", "ext")
        class Ext(_message.Message):
            __slots__ = ("feedurls",)
            Extensions: _python_message._ExtensionDict
            FEEDURLS_FIELD_NUMBER: _ClassVar[int]
            feedurls: _containers.RepeatedScalarFieldContainer[str]
            def __init__(self, feedurls: _Optional[_Iterable[str]] = ...) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        EPISODE_FIELD_NUMBER: _ClassVar[int]
        TITLE_FIELD_NUMBER: _ClassVar[int]
        SERIES_FIELD_NUMBER: _ClassVar[int]
        SEASON_FIELD_NUMBER: _ClassVar[int]
        ARTIST_FIELD_NUMBER: _ClassVar[int]
        GENRE_FIELD_NUMBER: _ClassVar[int]
        GTAX_FIELD_NUMBER: _ClassVar[int]
        GENRES_FIELD_NUMBER: _ClassVar[int]
        ALBUM_FIELD_NUMBER: _ClassVar[int]
        ISRC_FIELD_NUMBER: _ClassVar[int]
        PRODUCER_FIELD_NUMBER: _ClassVar[int]
        URL_FIELD_NUMBER: _ClassVar[int]
        CATTAX_FIELD_NUMBER: _ClassVar[int]
        CAT_FIELD_NUMBER: _ClassVar[int]
        PRODQ_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_FIELD_NUMBER: _ClassVar[int]
        CONTENTRATING_FIELD_NUMBER: _ClassVar[int]
        USERRATING_FIELD_NUMBER: _ClassVar[int]
        QAGMEDIARATING_FIELD_NUMBER: _ClassVar[int]
        KEYWORDS_FIELD_NUMBER: _ClassVar[int]
        KWARRAY_FIELD_NUMBER: _ClassVar[int]
        LIVESTREAM_FIELD_NUMBER: _ClassVar[int]
        SOURCERELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
        LEN_FIELD_NUMBER: _ClassVar[int]
        LANGUAGE_FIELD_NUMBER: _ClassVar[int]
        LANGB_FIELD_NUMBER: _ClassVar[int]
        EMBEDDABLE_FIELD_NUMBER: _ClassVar[int]
        DATA_FIELD_NUMBER: _ClassVar[int]
        NETWORK_FIELD_NUMBER: _ClassVar[int]
        CHANNEL_FIELD_NUMBER: _ClassVar[int]
        VIDEOQUALITY_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        episode: int
        title: str
        series: str
        season: str
        artist: str
        genre: str
        gtax: int
        genres: _containers.RepeatedScalarFieldContainer[str]
        album: str
        isrc: str
        producer: BidRequest.Producer
        url: str
        cattax: int
        cat: _containers.RepeatedScalarFieldContainer[str]
        prodq: int
        context: int
        contentrating: str
        userrating: str
        qagmediarating: int
        keywords: str
        kwarray: _containers.RepeatedScalarFieldContainer[str]
        livestream: bool
        sourcerelationship: bool
        len: int
        language: str
        langb: str
        embeddable: bool
        data: _containers.RepeatedCompositeFieldContainer[BidRequest.Data]
        network: BidRequest.Network
        channel: BidRequest.Channel
        videoquality: int
        ext: BidRequest.Content.Ext
        def __init__(self, id: _Optional[str] = ..., episode: _Optional[int] = ..., title: _Optional[str] = ..., series: _Optional[str] = ..., season: _Optional[str] = ..., artist: _Optional[str] = ..., genre: _Optional[str] = ..., gtax: _Optional[int] = ..., genres: _Optional[_Iterable[str]] = ..., album: _Optional[str] = ..., isrc: _Optional[str] = ..., producer: _Optional[_Union[BidRequest.Producer, _Mapping]] = ..., url: _Optional[str] = ..., cattax: _Optional[int] = ..., cat: _Optional[_Iterable[str]] = ..., prodq: _Optional[int] = ..., context: _Optional[int] = ..., contentrating: _Optional[str] = ..., userrating: _Optional[str] = ..., qagmediarating: _Optional[int] = ..., keywords: _Optional[str] = ..., kwarray: _Optional[_Iterable[str]] = ..., livestream: _Optional[bool] = ..., sourcerelationship: _Optional[bool] = ..., len: _Optional[int] = ..., language: _Optional[str] = ..., langb: _Optional[str] = ..., embeddable: _Optional[bool] = ..., data: _Optional[_Iterable[_Union[BidRequest.Data, _Mapping]]] = ..., network: _Optional[_Union[BidRequest.Network, _Mapping]] = ..., channel: _Optional[_Union[BidRequest.Channel, _Mapping]] = ..., videoquality: _Optional[int] = ..., ext: _Optional[_Union[BidRequest.Content.Ext, _Mapping]] = ...) -> None: ...
    class Producer(_message.Message):
        __slots__ = ("id", "name", "cattax", "cat", "domain", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        CATTAX_FIELD_NUMBER: _ClassVar[int]
        CAT_FIELD_NUMBER: _ClassVar[int]
        DOMAIN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        name: str
        cattax: int
        cat: _containers.RepeatedScalarFieldContainer[str]
        domain: str
        ext: BidRequest.Producer.Ext
        def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., cattax: _Optional[int] = ..., cat: _Optional[_Iterable[str]] = ..., domain: _Optional[str] = ..., ext: _Optional[_Union[BidRequest.Producer.Ext, _Mapping]] = ...) -> None: ...
    class Network(_message.Message):
        __slots__ = ("id", "name", "domain", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        DOMAIN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        name: str
        domain: str
        ext: BidRequest.Network.Ext
        def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., domain: _Optional[str] = ..., ext: _Optional[_Union[BidRequest.Network.Ext, _Mapping]] = ...) -> None: ...
    class Channel(_message.Message):
        __slots__ = ("id", "name", "domain", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        DOMAIN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        name: str
        domain: str
        ext: BidRequest.Channel.Ext
        def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., domain: _Optional[str] = ..., ext: _Optional[_Union[BidRequest.Channel.Ext, _Mapping]] = ...) -> None: ...
    class Device(_message.Message):
        __slots__ = ("geo", "dnt", "lmt", "ua", "sua", "ip", "ipv6", "devicetype", "make", "model", "os", "osv", "hwv", "w", "h", "ppi", "pxratio", "js", "geofetch", "flashver", "language", "langb", "carrier", "mccmnc", "connectiontype", "ifa", "didsha1", "didmd5", "dpidsha1", "dpidmd5", "macsha1", "macmd5", "ext")
        class Ext(_message.Message):
            __slots__ = ("atts", "ifv", "cdep", "ifa_type")
            Extensions: _python_message._ExtensionDict
            class Atts(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
                __slots__ = ()
                NOT_DETERMINED: _ClassVar[BidRequest.Device.Ext.Atts]
                RESTRICTED: _ClassVar[BidRequest.Device.Ext.Atts]
                DENIED: _ClassVar[BidRequest.Device.Ext.Atts]
                AUTHORIZED: _ClassVar[BidRequest.Device.Ext.Atts]
            NOT_DETERMINED: BidRequest.Device.Ext.Atts
            RESTRICTED: BidRequest.Device.Ext.Atts
            DENIED: BidRequest.Device.Ext.Atts
            AUTHORIZED: BidRequest.Device.Ext.Atts
            ATTS_FIELD_NUMBER: _ClassVar[int]
            IFV_FIELD_NUMBER: _ClassVar[int]
            CDEP_FIELD_NUMBER: _ClassVar[int]
            IFA_TYPE_FIELD_NUMBER: _ClassVar[int]
            atts: int
            ifv: str
            cdep: str
            ifa_type: str
            def __init__(self, atts: _Optional[int] = ..., ifv: _Optional[str] = ..., cdep: _Optional[str] = ..., ifa_type: _Optional[str] = ...) -> None: ...
        GEO_FIELD_NUMBER: _ClassVar[int]
        DNT_FIELD_NUMBER: _ClassVar[int]
        LMT_FIELD_NUMBER: _ClassVar[int]
        UA_FIELD_NUMBER: _ClassVar[int]
        SUA_FIELD_NUMBER: _ClassVar[int]
        IP_FIELD_NUMBER: _ClassVar[int]
        IPV6_FIELD_NUMBER: _ClassVar[int]
        DEVICETYPE_FIELD_NUMBER: _ClassVar[int]
        MAKE_FIELD_NUMBER: _ClassVar[int]
        MODEL_FIELD_NUMBER: _ClassVar[int]
        OS_FIELD_NUMBER: _ClassVar[int]
        OSV_FIELD_NUMBER: _ClassVar[int]
        HWV_FIELD_NUMBER: _ClassVar[int]
        W_FIELD_NUMBER: _ClassVar[int]
        H_FIELD_NUMBER: _ClassVar[int]
        PPI_FIELD_NUMBER: _ClassVar[int]
        PXRATIO_FIELD_NUMBER: _ClassVar[int]
        JS_FIELD_NUMBER: _ClassVar[int]
        GEOFETCH_FIELD_NUMBER: _ClassVar[int]
        FLASHVER_FIELD_NUMBER: _ClassVar[int]
        LANGUAGE_FIELD_NUMBER: _ClassVar[int]
        LANGB_FIELD_NUMBER: _ClassVar[int]
        CARRIER_FIELD_NUMBER: _ClassVar[int]
        MCCMNC_FIELD_NUMBER: _ClassVar[int]
        CONNECTIONTYPE_FIELD_NUMBER: _ClassVar[int]
        IFA_FIELD_NUMBER: _ClassVar[int]
        DIDSHA1_FIELD_NUMBER: _ClassVar[int]
        DIDMD5_FIELD_NUMBER: _ClassVar[int]
        DPIDSHA1_FIELD_NUMBER: _ClassVar[int]
        DPIDMD5_FIELD_NUMBER: _ClassVar[int]
        MACSHA1_FIELD_NUMBER: _ClassVar[int]
        MACMD5_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        geo: BidRequest.Geo
        dnt: bool
        lmt: bool
        ua: str
        sua: BidRequest.UserAgent
        ip: str
        ipv6: str
        devicetype: int
        make: str
        model: str
        os: str
        osv: str
        hwv: str
        w: int
        h: int
        ppi: int
        pxratio: float
        js: bool
        geofetch: bool
        flashver: str
        language: str
        langb: str
        carrier: str
        mccmnc: str
        connectiontype: int
        ifa: str
        didsha1: str
        didmd5: str
        dpidsha1: str
        dpidmd5: str
        macsha1: str
        macmd5: str
        ext: BidRequest.Device.Ext
        def __init__(self, geo: _Optional[_Union[BidRequest.Geo, _Mapping]] = ..., dnt: _Optional[bool] = ..., lmt: _Optional[bool] = ..., ua: _Optional[str] = ..., sua: _Optional[_Union[BidRequest.UserAgent, _Mapping]] = ..., ip: _Optional[str] = ..., ipv6: _Optional[str] = ..., devicetype: _Optional[int] = ..., make: _Optional[str] = ..., model: _Optional[str] = ..., os: _Optional[str] = ..., osv: _Optional[str] = ..., hwv: _Optional[str] = ..., w: _Optional[int] = ..., h: _Optional[int] = ..., ppi: _Optional[int] = ..., pxratio: _Optional[float] = ..., js: _Optional[bool] = ..., geofetch: _Optional[bool] = ..., flashver: _Optional[str] = ..., language: _Optional[str] = ..., langb: _Optional[str] = ..., carrier: _Optional[str] = ..., mccmnc: _Optional[str] = ..., connectiontype: _Optional[int] = ..., ifa: _Optional[str] = ..., didsha1: _Optional[str] = ..., didmd5: _Optional[str] = ..., dpidsha1: _Optional[str] = ..., dpidmd5: _Optional[str] = ..., macsha1: _Optional[str] = ..., macmd5: _Optional[str] = ..., ext: _Optional[_Union[BidRequest.Device.Ext, _Mapping]] = ...) -> None: ...
    class Geo(_message.Message):
        __slots__ = ("lat", "lon", "type", "accuracy", "lastfix", "ipservice", "country", "region", "regionfips104", "metro", "city", "zip", "utcoffset", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        LAT_FIELD_NUMBER: _ClassVar[int]
        LON_FIELD_NUMBER: _ClassVar[int]
        TYPE_FIELD_NUMBER: _ClassVar[int]
        ACCURACY_FIELD_NUMBER: _ClassVar[int]
        LASTFIX_FIELD_NUMBER: _ClassVar[int]
        IPSERVICE_FIELD_NUMBER: _ClassVar[int]
        COUNTRY_FIELD_NUMBER: _ClassVar[int]
        REGION_FIELD_NUMBER: _ClassVar[int]
        REGIONFIPS104_FIELD_NUMBER: _ClassVar[int]
        METRO_FIELD_NUMBER: _ClassVar[int]
        CITY_FIELD_NUMBER: _ClassVar[int]
        ZIP_FIELD_NUMBER: _ClassVar[int]
        UTCOFFSET_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        lat: float
        lon: float
        type: int
        accuracy: int
        lastfix: int
        ipservice: int
        country: str
        region: str
        regionfips104: str
        metro: str
        city: str
        zip: str
        utcoffset: int
        ext: BidRequest.Geo.Ext
        def __init__(self, lat: _Optional[float] = ..., lon: _Optional[float] = ..., type: _Optional[int] = ..., accuracy: _Optional[int] = ..., lastfix: _Optional[int] = ..., ipservice: _Optional[int] = ..., country: _Optional[str] = ..., region: _Optional[str] = ..., regionfips104: _Optional[str] = ..., metro: _Optional[str] = ..., city: _Optional[str] = ..., zip: _Optional[str] = ..., utcoffset: _Optional[int] = ..., ext: _Optional[_Union[BidRequest.Geo.Ext, _Mapping]] = ...) -> None: ...
    class UserAgent(_message.Message):
        __slots__ = ("browsers", "platform", "mobile", "architecture", "bitness", "model", "source", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        BROWSERS_FIELD_NUMBER: _ClassVar[int]
        PLATFORM_FIELD_NUMBER: _ClassVar[int]
        MOBILE_FIELD_NUMBER: _ClassVar[int]
        ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
        BITNESS_FIELD_NUMBER: _ClassVar[int]
        MODEL_FIELD_NUMBER: _ClassVar[int]
        SOURCE_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        browsers: _containers.RepeatedCompositeFieldContainer[BidRequest.BrandVersion]
        platform: BidRequest.BrandVersion
        mobile: bool
        architecture: str
        bitness: str
        model: str
        source: int
        ext: BidRequest.UserAgent.Ext
        def __init__(self, browsers: _Optional[_Iterable[_Union[BidRequest.BrandVersion, _Mapping]]] = ..., platform: _Optional[_Union[BidRequest.BrandVersion, _Mapping]] = ..., mobile: _Optional[bool] = ..., architecture: _Optional[str] = ..., bitness: _Optional[str] = ..., model: _Optional[str] = ..., source: _Optional[int] = ..., ext: _Optional[_Union[BidRequest.UserAgent.Ext, _Mapping]] = ...) -> None: ...
    class BrandVersion(_message.Message):
        __slots__ = ("brand", "version", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        BRAND_FIELD_NUMBER: _ClassVar[int]
        VERSION_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        brand: str
        version: _containers.RepeatedScalarFieldContainer[str]
        ext: BidRequest.BrandVersion.Ext
        def __init__(self, brand: _Optional[str] = ..., version: _Optional[_Iterable[str]] = ..., ext: _Optional[_Union[BidRequest.BrandVersion.Ext, _Mapping]] = ...) -> None: ...
    class User(_message.Message):
        __slots__ = ("id", "buyeruid", "yob", "gender", "keywords", "kwarray", "customdata", "geo", "data", "consent", "eids", "ext")
        class Ext(_message.Message):
            __slots__ = ("consent", "eids")
            Extensions: _python_message._ExtensionDict
            CONSENT_FIELD_NUMBER: _ClassVar[int]
            EIDS_FIELD_NUMBER: _ClassVar[int]
            consent: str
            eids: _containers.RepeatedCompositeFieldContainer[BidRequest.EID]
            def __init__(self, consent: _Optional[str] = ..., eids: _Optional[_Iterable[_Union[BidRequest.EID, _Mapping]]] = ...) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        BUYERUID_FIELD_NUMBER: _ClassVar[int]
        YOB_FIELD_NUMBER: _ClassVar[int]
        GENDER_FIELD_NUMBER: _ClassVar[int]
        KEYWORDS_FIELD_NUMBER: _ClassVar[int]
        KWARRAY_FIELD_NUMBER: _ClassVar[int]
        CUSTOMDATA_FIELD_NUMBER: _ClassVar[int]
        GEO_FIELD_NUMBER: _ClassVar[int]
        DATA_FIELD_NUMBER: _ClassVar[int]
        CONSENT_FIELD_NUMBER: _ClassVar[int]
        EIDS_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        buyeruid: str
        yob: int
        gender: str
        keywords: str
        kwarray: _containers.RepeatedScalarFieldContainer[str]
        customdata: str
        geo: BidRequest.Geo
        data: _containers.RepeatedCompositeFieldContainer[BidRequest.Data]
        consent: str
        eids: _containers.RepeatedCompositeFieldContainer[BidRequest.EID]
        ext: BidRequest.User.Ext
        def __init__(self, id: _Optional[str] = ..., buyeruid: _Optional[str] = ..., yob: _Optional[int] = ..., gender: _Optional[str] = ..., keywords: _Optional[str] = ..., kwarray: _Optional[_Iterable[str]] = ..., customdata: _Optional[str] = ..., geo: _Optional[_Union[BidRequest.Geo, _Mapping]] = ..., data: _Optional[_Iterable[_Union[BidRequest.Data, _Mapping]]] = ..., consent: _Optional[str] = ..., eids: _Optional[_Iterable[_Union[BidRequest.EID, _Mapping]]] = ..., ext: _Optional[_Union[BidRequest.User.Ext, _Mapping]] = ...) -> None: ...
    class EID(_message.Message):
        __slots__ = ("inserter", "source", "matcher", "mm", "uids", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        class UID(_message.Message):
            __slots__ = ("id", "atype", "ext")
            class Ext(_message.Message):
                __slots__ = ()
                Extensions: _python_message._ExtensionDict
                def __init__(self) -> None: ...
            ID_FIELD_NUMBER: _ClassVar[int]
            ATYPE_FIELD_NUMBER: _ClassVar[int]
            EXT_FIELD_NUMBER: _ClassVar[int]
            id: str
            atype: int
            ext: BidRequest.EID.UID.Ext
            def __init__(self, id: _Optional[str] = ..., atype: _Optional[int] = ..., ext: _Optional[_Union[BidRequest.EID.UID.Ext, _Mapping]] = ...) -> None: ...
        INSERTER_FIELD_NUMBER: _ClassVar[int]
        SOURCE_FIELD_NUMBER: _ClassVar[int]
        MATCHER_FIELD_NUMBER: _ClassVar[int]
        MM_FIELD_NUMBER: _ClassVar[int]
        UIDS_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        inserter: str
        source: str
        matcher: str
        mm: int
        uids: _containers.RepeatedCompositeFieldContainer[BidRequest.EID.UID]
        ext: BidRequest.EID.Ext
        def __init__(self, inserter: _Optional[str] = ..., source: _Optional[str] = ..., matcher: _Optional[str] = ..., mm: _Optional[int] = ..., uids: _Optional[_Iterable[_Union[BidRequest.EID.UID, _Mapping]]] = ..., ext: _Optional[_Union[BidRequest.EID.Ext, _Mapping]] = ...) -> None: ...
    class Data(_message.Message):
        __slots__ = ("id", "name", "segment", "ext")
        class Ext(_message.Message):
            __slots__ = ("cids",)
            Extensions: _python_message._ExtensionDict
            CIDS_FIELD_NUMBER: _ClassVar[int]
            cids: _containers.RepeatedScalarFieldContainer[str]
            def __init__(self, cids: _Optional[_Iterable[str]] = ...) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        SEGMENT_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        name: str
        segment: _containers.RepeatedCompositeFieldContainer[BidRequest.Segment]
        ext: BidRequest.Data.Ext
        def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., segment: _Optional[_Iterable[_Union[BidRequest.Segment, _Mapping]]] = ..., ext: _Optional[_Union[BidRequest.Data.Ext, _Mapping]] = ...) -> None: ...
    class Segment(_message.Message):
        __slots__ = ("id", "name", "value", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        name: str
        value: str
        ext: BidRequest.Segment.Ext
        def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., value: _Optional[str] = ..., ext: _Optional[_Union[BidRequest.Segment.Ext, _Mapping]] = ...) -> None: ...
    class Regs(_message.Message):
        __slots__ = ("coppa", "gdpr", "us_privacy", "gpp", "gpp_sid", "ext")
        class Ext(_message.Message):
            __slots__ = ("gdpr", "us_privacy", "gpc", "dsa", "s22580")
            Extensions: _python_message._ExtensionDict
            GDPR_FIELD_NUMBER: _ClassVar[int]
            US_PRIVACY_FIELD_NUMBER: _ClassVar[int]
            GPC_FIELD_NUMBER: _ClassVar[int]
            DSA_FIELD_NUMBER: _ClassVar[int]
            S22580_FIELD_NUMBER: _ClassVar[int]
            gdpr: bool
            us_privacy: str
            gpc: str
            dsa: BidRequest.DsaRequest
            s22580: bool
            def __init__(self, gdpr: _Optional[bool] = ..., us_privacy: _Optional[str] = ..., gpc: _Optional[str] = ..., dsa: _Optional[_Union[BidRequest.DsaRequest, _Mapping]] = ..., s22580: _Optional[bool] = ...) -> None: ...
        COPPA_FIELD_NUMBER: _ClassVar[int]
        GDPR_FIELD_NUMBER: _ClassVar[int]
        US_PRIVACY_FIELD_NUMBER: _ClassVar[int]
        GPP_FIELD_NUMBER: _ClassVar[int]
        GPP_SID_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        coppa: bool
        gdpr: bool
        us_privacy: str
        gpp: str
        gpp_sid: _containers.RepeatedScalarFieldContainer[int]
        ext: BidRequest.Regs.Ext
        def __init__(self, coppa: _Optional[bool] = ..., gdpr: _Optional[bool] = ..., us_privacy: _Optional[str] = ..., gpp: _Optional[str] = ..., gpp_sid: _Optional[_Iterable[int]] = ..., ext: _Optional[_Union[BidRequest.Regs.Ext, _Mapping]] = ...) -> None: ...
    class DsaRequest(_message.Message):
        __slots__ = ("dsarequired", "pubrender", "datatopub", "transparency")
        DSAREQUIRED_FIELD_NUMBER: _ClassVar[int]
        PUBRENDER_FIELD_NUMBER: _ClassVar[int]
        DATATOPUB_FIELD_NUMBER: _ClassVar[int]
        TRANSPARENCY_FIELD_NUMBER: _ClassVar[int]
        dsarequired: int
        pubrender: int
        datatopub: int
        transparency: _containers.RepeatedCompositeFieldContainer[Transparency]
        def __init__(self, dsarequired: _Optional[int] = ..., pubrender: _Optional[int] = ..., datatopub: _Optional[int] = ..., transparency: _Optional[_Iterable[_Union[Transparency, _Mapping]]] = ...) -> None: ...
    class DurFloors(_message.Message):
        __slots__ = ("mindur", "maxdur", "bidfloor", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        MINDUR_FIELD_NUMBER: _ClassVar[int]
        MAXDUR_FIELD_NUMBER: _ClassVar[int]
        BIDFLOOR_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        mindur: int
        maxdur: int
        bidfloor: float
        ext: BidRequest.DurFloors.Ext
        def __init__(self, mindur: _Optional[int] = ..., maxdur: _Optional[int] = ..., bidfloor: _Optional[float] = ..., ext: _Optional[_Union[BidRequest.DurFloors.Ext, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    IMP_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    DOOH_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    TMAX_FIELD_NUMBER: _ClassVar[int]
    WSEAT_FIELD_NUMBER: _ClassVar[int]
    BSEAT_FIELD_NUMBER: _ClassVar[int]
    ALLIMPS_FIELD_NUMBER: _ClassVar[int]
    CUR_FIELD_NUMBER: _ClassVar[int]
    WLANG_FIELD_NUMBER: _ClassVar[int]
    WLANGB_FIELD_NUMBER: _ClassVar[int]
    ACAT_FIELD_NUMBER: _ClassVar[int]
    BCAT_FIELD_NUMBER: _ClassVar[int]
    CATTAX_FIELD_NUMBER: _ClassVar[int]
    BADV_FIELD_NUMBER: _ClassVar[int]
    BAPP_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REGS_FIELD_NUMBER: _ClassVar[int]
    EXT_FIELD_NUMBER: _ClassVar[int]
    id: str
    imp: _containers.RepeatedCompositeFieldContainer[BidRequest.Imp]
    site: BidRequest.Site
    app: BidRequest.App
    dooh: BidRequest.Dooh
    device: BidRequest.Device
    user: BidRequest.User
    test: bool
    at: int
    tmax: int
    wseat: _containers.RepeatedScalarFieldContainer[str]
    bseat: _containers.RepeatedScalarFieldContainer[str]
    allimps: bool
    cur: _containers.RepeatedScalarFieldContainer[str]
    wlang: _containers.RepeatedScalarFieldContainer[str]
    wlangb: _containers.RepeatedScalarFieldContainer[str]
    acat: _containers.RepeatedScalarFieldContainer[str]
    bcat: _containers.RepeatedScalarFieldContainer[str]
    cattax: int
    badv: _containers.RepeatedScalarFieldContainer[str]
    bapp: _containers.RepeatedScalarFieldContainer[str]
    source: BidRequest.Source
    regs: BidRequest.Regs
    ext: BidRequest.Ext
    def __init__(self, id: _Optional[str] = ..., imp: _Optional[_Iterable[_Union[BidRequest.Imp, _Mapping]]] = ..., site: _Optional[_Union[BidRequest.Site, _Mapping]] = ..., app: _Optional[_Union[BidRequest.App, _Mapping]] = ..., dooh: _Optional[_Union[BidRequest.Dooh, _Mapping]] = ..., device: _Optional[_Union[BidRequest.Device, _Mapping]] = ..., user: _Optional[_Union[BidRequest.User, _Mapping]] = ..., test: _Optional[bool] = ..., at: _Optional[int] = ..., tmax: _Optional[int] = ..., wseat: _Optional[_Iterable[str]] = ..., bseat: _Optional[_Iterable[str]] = ..., allimps: _Optional[bool] = ..., cur: _Optional[_Iterable[str]] = ..., wlang: _Optional[_Iterable[str]] = ..., wlangb: _Optional[_Iterable[str]] = ..., acat: _Optional[_Iterable[str]] = ..., bcat: _Optional[_Iterable[str]] = ..., cattax: _Optional[int] = ..., badv: _Optional[_Iterable[str]] = ..., bapp: _Optional[_Iterable[str]] = ..., source: _Optional[_Union[BidRequest.Source, _Mapping]] = ..., regs: _Optional[_Union[BidRequest.Regs, _Mapping]] = ..., ext: _Optional[_Union[BidRequest.Ext, _Mapping]] = ...) -> None: ...

class BidResponse(_message.Message):
    __slots__ = ("id", "seatbid", "bidid", "cur", "customdata", "nbr", "ext")
    class Ext(_message.Message):
        __slots__ = ("seatnonbid", "igi")
        Extensions: _python_message._ExtensionDict
        SEATNONBID_FIELD_NUMBER: _ClassVar[int]
        IGI_FIELD_NUMBER: _ClassVar[int]
        seatnonbid: _containers.RepeatedCompositeFieldContainer[BidResponse.SeatNonBid]
        igi: _containers.RepeatedCompositeFieldContainer[BidResponse.InterestGroupAuctionIntent]
        def __init__(self, seatnonbid: _Optional[_Iterable[_Union[BidResponse.SeatNonBid, _Mapping]]] = ..., igi: _Optional[_Iterable[_Union[BidResponse.InterestGroupAuctionIntent, _Mapping]]] = ...) -> None: ...
    class SeatBid(_message.Message):
        __slots__ = ("bid", "seat", "group", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        BID_FIELD_NUMBER: _ClassVar[int]
        SEAT_FIELD_NUMBER: _ClassVar[int]
        GROUP_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        bid: _containers.RepeatedCompositeFieldContainer[BidResponse.Bid]
        seat: str
        group: bool
        ext: BidResponse.SeatBid.Ext
        def __init__(self, bid: _Optional[_Iterable[_Union[BidResponse.Bid, _Mapping]]] = ..., seat: _Optional[str] = ..., group: _Optional[bool] = ..., ext: _Optional[_Union[BidResponse.SeatBid.Ext, _Mapping]] = ...) -> None: ...
    class Bid(_message.Message):
        __slots__ = ("id", "impid", "price", "nurl", "burl", "lurl", "adm", "adm_native", "adid", "adomain", "bundle", "iurl", "cid", "crid", "tactic", "cattax", "cat", "attr", "apis", "api", "protocol", "qagmediarating", "language", "langb", "dealid", "w", "h", "wratio", "hratio", "exp", "dur", "mtype", "slotinpod", "ext")
        class Ext(_message.Message):
            __slots__ = ("skadn", "dsa", "scid")
            Extensions: _python_message._ExtensionDict
            SKADN_FIELD_NUMBER: _ClassVar[int]
            DSA_FIELD_NUMBER: _ClassVar[int]
            SCID_FIELD_NUMBER: _ClassVar[int]
            skadn: BidResponse.SKAdNetworkResponse
            dsa: BidResponse.DsaResponse
            scid: str
            def __init__(self, skadn: _Optional[_Union[BidResponse.SKAdNetworkResponse, _Mapping]] = ..., dsa: _Optional[_Union[BidResponse.DsaResponse, _Mapping]] = ..., scid: _Optional[str] = ...) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        IMPID_FIELD_NUMBER: _ClassVar[int]
        PRICE_FIELD_NUMBER: _ClassVar[int]
        NURL_FIELD_NUMBER: _ClassVar[int]
        BURL_FIELD_NUMBER: _ClassVar[int]
        LURL_FIELD_NUMBER: _ClassVar[int]
        ADM_FIELD_NUMBER: _ClassVar[int]
        ADM_NATIVE_FIELD_NUMBER: _ClassVar[int]
        ADID_FIELD_NUMBER: _ClassVar[int]
        ADOMAIN_FIELD_NUMBER: _ClassVar[int]
        BUNDLE_FIELD_NUMBER: _ClassVar[int]
        IURL_FIELD_NUMBER: _ClassVar[int]
        CID_FIELD_NUMBER: _ClassVar[int]
        CRID_FIELD_NUMBER: _ClassVar[int]
        TACTIC_FIELD_NUMBER: _ClassVar[int]
        CATTAX_FIELD_NUMBER: _ClassVar[int]
        CAT_FIELD_NUMBER: _ClassVar[int]
        ATTR_FIELD_NUMBER: _ClassVar[int]
        APIS_FIELD_NUMBER: _ClassVar[int]
        API_FIELD_NUMBER: _ClassVar[int]
        PROTOCOL_FIELD_NUMBER: _ClassVar[int]
        QAGMEDIARATING_FIELD_NUMBER: _ClassVar[int]
        LANGUAGE_FIELD_NUMBER: _ClassVar[int]
        LANGB_FIELD_NUMBER: _ClassVar[int]
        DEALID_FIELD_NUMBER: _ClassVar[int]
        W_FIELD_NUMBER: _ClassVar[int]
        H_FIELD_NUMBER: _ClassVar[int]
        WRATIO_FIELD_NUMBER: _ClassVar[int]
        HRATIO_FIELD_NUMBER: _ClassVar[int]
        EXP_FIELD_NUMBER: _ClassVar[int]
        DUR_FIELD_NUMBER: _ClassVar[int]
        MTYPE_FIELD_NUMBER: _ClassVar[int]
        SLOTINPOD_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: str
        impid: str
        price: float
        nurl: str
        burl: str
        lurl: str
        adm: str
        adm_native: NativeResponse
        adid: str
        adomain: _containers.RepeatedScalarFieldContainer[str]
        bundle: str
        iurl: str
        cid: str
        crid: str
        tactic: str
        cattax: int
        cat: _containers.RepeatedScalarFieldContainer[str]
        attr: _containers.RepeatedScalarFieldContainer[int]
        apis: _containers.RepeatedScalarFieldContainer[int]
        api: int
        protocol: int
        qagmediarating: int
        language: str
        langb: str
        dealid: str
        w: int
        h: int
        wratio: int
        hratio: int
        exp: int
        dur: int
        mtype: int
        slotinpod: int
        ext: BidResponse.Bid.Ext
        def __init__(self, id: _Optional[str] = ..., impid: _Optional[str] = ..., price: _Optional[float] = ..., nurl: _Optional[str] = ..., burl: _Optional[str] = ..., lurl: _Optional[str] = ..., adm: _Optional[str] = ..., adm_native: _Optional[_Union[NativeResponse, _Mapping]] = ..., adid: _Optional[str] = ..., adomain: _Optional[_Iterable[str]] = ..., bundle: _Optional[str] = ..., iurl: _Optional[str] = ..., cid: _Optional[str] = ..., crid: _Optional[str] = ..., tactic: _Optional[str] = ..., cattax: _Optional[int] = ..., cat: _Optional[_Iterable[str]] = ..., attr: _Optional[_Iterable[int]] = ..., apis: _Optional[_Iterable[int]] = ..., api: _Optional[int] = ..., protocol: _Optional[int] = ..., qagmediarating: _Optional[int] = ..., language: _Optional[str] = ..., langb: _Optional[str] = ..., dealid: _Optional[str] = ..., w: _Optional[int] = ..., h: _Optional[int] = ..., wratio: _Optional[int] = ..., hratio: _Optional[int] = ..., exp: _Optional[int] = ..., dur: _Optional[int] = ..., mtype: _Optional[int] = ..., slotinpod: _Optional[int] = ..., ext: _Optional[_Union[BidResponse.Bid.Ext, _Mapping]] = ...) -> None: ...
    class DsaResponse(_message.Message):
        __slots__ = ("behalf", "paid", "transparency", "adrender")
        BEHALF_FIELD_NUMBER: _ClassVar[int]
        PAID_FIELD_NUMBER: _ClassVar[int]
        TRANSPARENCY_FIELD_NUMBER: _ClassVar[int]
        ADRENDER_FIELD_NUMBER: _ClassVar[int]
        behalf: str
        paid: str
        transparency: _containers.RepeatedCompositeFieldContainer[Transparency]
        adrender: bool
        def __init__(self, behalf: _Optional[str] = ..., paid: _Optional[str] = ..., transparency: _Optional[_Iterable[_Union[Transparency, _Mapping]]] = ..., adrender: _Optional[bool] = ...) -> None: ...
    class SKAdNetworkFidelity(_message.Message):
        __slots__ = ("fidelity", "nonce", "timestamp", "signature", "ext")
        class Fidelity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            VIEW_THROUGH: _ClassVar[BidResponse.SKAdNetworkFidelity.Fidelity]
            STOREKIT_RENDERED: _ClassVar[BidResponse.SKAdNetworkFidelity.Fidelity]
        VIEW_THROUGH: BidResponse.SKAdNetworkFidelity.Fidelity
        STOREKIT_RENDERED: BidResponse.SKAdNetworkFidelity.Fidelity
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        FIDELITY_FIELD_NUMBER: _ClassVar[int]
        NONCE_FIELD_NUMBER: _ClassVar[int]
        TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
        SIGNATURE_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        fidelity: int
        nonce: str
        timestamp: str
        signature: str
        ext: BidResponse.SKAdNetworkFidelity.Ext
        def __init__(self, fidelity: _Optional[int] = ..., nonce: _Optional[str] = ..., timestamp: _Optional[str] = ..., signature: _Optional[str] = ..., ext: _Optional[_Union[BidResponse.SKAdNetworkFidelity.Ext, _Mapping]] = ...) -> None: ...
    class SKAdNetworkResponse(_message.Message):
        __slots__ = ("version", "network", "sourceidentifier", "campaign", "itunesitem", "productpageid", "fidelities", "nonce", "sourceapp", "timestamp", "signature", "skoverlay", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        VERSION_FIELD_NUMBER: _ClassVar[int]
        NETWORK_FIELD_NUMBER: _ClassVar[int]
        SOURCEIDENTIFIER_FIELD_NUMBER: _ClassVar[int]
        CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
        ITUNESITEM_FIELD_NUMBER: _ClassVar[int]
        PRODUCTPAGEID_FIELD_NUMBER: _ClassVar[int]
        FIDELITIES_FIELD_NUMBER: _ClassVar[int]
        NONCE_FIELD_NUMBER: _ClassVar[int]
        SOURCEAPP_FIELD_NUMBER: _ClassVar[int]
        TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
        SIGNATURE_FIELD_NUMBER: _ClassVar[int]
        SKOVERLAY_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        version: str
        network: str
        sourceidentifier: str
        campaign: str
        itunesitem: str
        productpageid: str
        fidelities: _containers.RepeatedCompositeFieldContainer[BidResponse.SKAdNetworkFidelity]
        nonce: str
        sourceapp: str
        timestamp: str
        signature: str
        skoverlay: BidResponse.SKOverlay
        ext: BidResponse.SKAdNetworkResponse.Ext
        def __init__(self, version: _Optional[str] = ..., network: _Optional[str] = ..., sourceidentifier: _Optional[str] = ..., campaign: _Optional[str] = ..., itunesitem: _Optional[str] = ..., productpageid: _Optional[str] = ..., fidelities: _Optional[_Iterable[_Union[BidResponse.SKAdNetworkFidelity, _Mapping]]] = ..., nonce: _Optional[str] = ..., sourceapp: _Optional[str] = ..., timestamp: _Optional[str] = ..., signature: _Optional[str] = ..., skoverlay: _Optional[_Union[BidResponse.SKOverlay, _Mapping]] = ..., ext: _Optional[_Union[BidResponse.SKAdNetworkResponse.Ext, _Mapping]] = ...) -> None: ...
    class SKOverlay(_message.Message):
        __slots__ = ("delay", "endcarddelay", "dismissible", "pos", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        DELAY_FIELD_NUMBER: _ClassVar[int]
        ENDCARDDELAY_FIELD_NUMBER: _ClassVar[int]
        DISMISSIBLE_FIELD_NUMBER: _ClassVar[int]
        POS_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        delay: int
        endcarddelay: int
        dismissible: bool
        pos: int
        ext: BidResponse.SKOverlay.Ext
        def __init__(self, delay: _Optional[int] = ..., endcarddelay: _Optional[int] = ..., dismissible: _Optional[bool] = ..., pos: _Optional[int] = ..., ext: _Optional[_Union[BidResponse.SKOverlay.Ext, _Mapping]] = ...) -> None: ...
    class SeatNonBid(_message.Message):
        __slots__ = ("nonbid", "seat", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        NONBID_FIELD_NUMBER: _ClassVar[int]
        SEAT_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        nonbid: _containers.RepeatedCompositeFieldContainer[BidResponse.NonBid]
        seat: str
        ext: BidResponse.SeatNonBid.Ext
        def __init__(self, nonbid: _Optional[_Iterable[_Union[BidResponse.NonBid, _Mapping]]] = ..., seat: _Optional[str] = ..., ext: _Optional[_Union[BidResponse.SeatNonBid.Ext, _Mapping]] = ...) -> None: ...
    class NonBid(_message.Message):
        __slots__ = ("impid", "statuscode", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        IMPID_FIELD_NUMBER: _ClassVar[int]
        STATUSCODE_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        impid: str
        statuscode: int
        ext: BidResponse.NonBid.Ext
        def __init__(self, impid: _Optional[str] = ..., statuscode: _Optional[int] = ..., ext: _Optional[_Union[BidResponse.NonBid.Ext, _Mapping]] = ...) -> None: ...
    class InterestGroupAuctionIntent(_message.Message):
        __slots__ = ("impid", "igb", "igs")
        IMPID_FIELD_NUMBER: _ClassVar[int]
        IGB_FIELD_NUMBER: _ClassVar[int]
        IGS_FIELD_NUMBER: _ClassVar[int]
        impid: str
        igb: _containers.RepeatedCompositeFieldContainer[BidResponse.InterestGroupAuctionBuyer]
        igs: _containers.RepeatedCompositeFieldContainer[BidResponse.InterestGroupAuctionSeller]
        def __init__(self, impid: _Optional[str] = ..., igb: _Optional[_Iterable[_Union[BidResponse.InterestGroupAuctionBuyer, _Mapping]]] = ..., igs: _Optional[_Iterable[_Union[BidResponse.InterestGroupAuctionSeller, _Mapping]]] = ...) -> None: ...
    class InterestGroupAuctionBuyer(_message.Message):
        __slots__ = ("origin", "maxbid", "cur", "pbs", "ps", "begid")
        class PsEntry(_message.Message):
            __slots__ = ("key", "value")
            KEY_FIELD_NUMBER: _ClassVar[int]
            VALUE_FIELD_NUMBER: _ClassVar[int]
            key: str
            value: float
            def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
        ORIGIN_FIELD_NUMBER: _ClassVar[int]
        MAXBID_FIELD_NUMBER: _ClassVar[int]
        CUR_FIELD_NUMBER: _ClassVar[int]
        PBS_FIELD_NUMBER: _ClassVar[int]
        PS_FIELD_NUMBER: _ClassVar[int]
        BEGID_FIELD_NUMBER: _ClassVar[int]
        origin: str
        maxbid: float
        cur: str
        pbs: _struct_pb2.Value
        ps: _containers.ScalarMap[str, float]
        begid: int
        def __init__(self, origin: _Optional[str] = ..., maxbid: _Optional[float] = ..., cur: _Optional[str] = ..., pbs: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., ps: _Optional[_Mapping[str, float]] = ..., begid: _Optional[int] = ...) -> None: ...
    class InterestGroupAuctionSeller(_message.Message):
        __slots__ = ("impid", "config")
        IMPID_FIELD_NUMBER: _ClassVar[int]
        CONFIG_FIELD_NUMBER: _ClassVar[int]
        impid: str
        config: _struct_pb2.Value
        def __init__(self, impid: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SEATBID_FIELD_NUMBER: _ClassVar[int]
    BIDID_FIELD_NUMBER: _ClassVar[int]
    CUR_FIELD_NUMBER: _ClassVar[int]
    CUSTOMDATA_FIELD_NUMBER: _ClassVar[int]
    NBR_FIELD_NUMBER: _ClassVar[int]
    EXT_FIELD_NUMBER: _ClassVar[int]
    id: str
    seatbid: _containers.RepeatedCompositeFieldContainer[BidResponse.SeatBid]
    bidid: str
    cur: str
    customdata: str
    nbr: int
    ext: BidResponse.Ext
    def __init__(self, id: _Optional[str] = ..., seatbid: _Optional[_Iterable[_Union[BidResponse.SeatBid, _Mapping]]] = ..., bidid: _Optional[str] = ..., cur: _Optional[str] = ..., customdata: _Optional[str] = ..., nbr: _Optional[int] = ..., ext: _Optional[_Union[BidResponse.Ext, _Mapping]] = ...) -> None: ...

class Transparency(_message.Message):
    __slots__ = ("domain", "dsaparams")
    class DsaParams(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DsaParams_UNKNOWN: _ClassVar[Transparency.DsaParams]
        PROFILING: _ClassVar[Transparency.DsaParams]
        BASIC_ADVERTISING: _ClassVar[Transparency.DsaParams]
        PRECISE_GEOLOCATION: _ClassVar[Transparency.DsaParams]
    DsaParams_UNKNOWN: Transparency.DsaParams
    PROFILING: Transparency.DsaParams
    BASIC_ADVERTISING: Transparency.DsaParams
    PRECISE_GEOLOCATION: Transparency.DsaParams
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    DSAPARAMS_FIELD_NUMBER: _ClassVar[int]
    domain: str
    dsaparams: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, domain: _Optional[str] = ..., dsaparams: _Optional[_Iterable[int]] = ...) -> None: ...

class NativeRequest(_message.Message):
    __slots__ = ("ver", "layout", "adunit", "context", "contextsubtype", "plcmttype", "plcmtcnt", "seq", "assets", "aurlsupport", "durlsupport", "eventtrackers", "privacy", "ext")
    class Ext(_message.Message):
        __slots__ = ()
        Extensions: _python_message._ExtensionDict
        def __init__(self) -> None: ...
    class Asset(_message.Message):
        __slots__ = ("id", "required", "title", "img", "video", "data", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        REQUIRED_FIELD_NUMBER: _ClassVar[int]
        TITLE_FIELD_NUMBER: _ClassVar[int]
        IMG_FIELD_NUMBER: _ClassVar[int]
        VIDEO_FIELD_NUMBER: _ClassVar[int]
        DATA_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: int
        required: bool
        title: NativeRequest.Title
        img: NativeRequest.Image
        video: BidRequest.Video
        data: NativeRequest.Data
        ext: NativeRequest.Asset.Ext
        def __init__(self, id: _Optional[int] = ..., required: _Optional[bool] = ..., title: _Optional[_Union[NativeRequest.Title, _Mapping]] = ..., img: _Optional[_Union[NativeRequest.Image, _Mapping]] = ..., video: _Optional[_Union[BidRequest.Video, _Mapping]] = ..., data: _Optional[_Union[NativeRequest.Data, _Mapping]] = ..., ext: _Optional[_Union[NativeRequest.Asset.Ext, _Mapping]] = ...) -> None: ...
    class Title(_message.Message):
        __slots__ = ("len", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        LEN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        len: int
        ext: NativeRequest.Title.Ext
        def __init__(self, len: _Optional[int] = ..., ext: _Optional[_Union[NativeRequest.Title.Ext, _Mapping]] = ...) -> None: ...
    class Image(_message.Message):
        __slots__ = ("type", "w", "h", "wmin", "hmin", "mimes", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        TYPE_FIELD_NUMBER: _ClassVar[int]
        W_FIELD_NUMBER: _ClassVar[int]
        H_FIELD_NUMBER: _ClassVar[int]
        WMIN_FIELD_NUMBER: _ClassVar[int]
        HMIN_FIELD_NUMBER: _ClassVar[int]
        MIMES_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        type: int
        w: int
        h: int
        wmin: int
        hmin: int
        mimes: _containers.RepeatedScalarFieldContainer[str]
        ext: NativeRequest.Image.Ext
        def __init__(self, type: _Optional[int] = ..., w: _Optional[int] = ..., h: _Optional[int] = ..., wmin: _Optional[int] = ..., hmin: _Optional[int] = ..., mimes: _Optional[_Iterable[str]] = ..., ext: _Optional[_Union[NativeRequest.Image.Ext, _Mapping]] = ...) -> None: ...
    class Data(_message.Message):
        __slots__ = ("type", "len", "ext")
        class Ext(_message.Message):
            __slots__ = ("segtax",)
            Extensions: _python_message._ExtensionDict
            SEGTAX_FIELD_NUMBER: _ClassVar[int]
            segtax: int
            def __init__(self, segtax: _Optional[int] = ...) -> None: ...
        TYPE_FIELD_NUMBER: _ClassVar[int]
        LEN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        type: int
        len: int
        ext: NativeRequest.Data.Ext
        def __init__(self, type: _Optional[int] = ..., len: _Optional[int] = ..., ext: _Optional[_Union[NativeRequest.Data.Ext, _Mapping]] = ...) -> None: ...
    class EventTrackers(_message.Message):
        __slots__ = ("event", "methods", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        EVENT_FIELD_NUMBER: _ClassVar[int]
        METHODS_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        event: int
        methods: _containers.RepeatedScalarFieldContainer[int]
        ext: NativeRequest.EventTrackers.Ext
        def __init__(self, event: _Optional[int] = ..., methods: _Optional[_Iterable[int]] = ..., ext: _Optional[_Union[NativeRequest.EventTrackers.Ext, _Mapping]] = ...) -> None: ...
    VER_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    ADUNIT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CONTEXTSUBTYPE_FIELD_NUMBER: _ClassVar[int]
    PLCMTTYPE_FIELD_NUMBER: _ClassVar[int]
    PLCMTCNT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    AURLSUPPORT_FIELD_NUMBER: _ClassVar[int]
    DURLSUPPORT_FIELD_NUMBER: _ClassVar[int]
    EVENTTRACKERS_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_FIELD_NUMBER: _ClassVar[int]
    EXT_FIELD_NUMBER: _ClassVar[int]
    ver: str
    layout: int
    adunit: int
    context: int
    contextsubtype: int
    plcmttype: int
    plcmtcnt: int
    seq: int
    assets: _containers.RepeatedCompositeFieldContainer[NativeRequest.Asset]
    aurlsupport: bool
    durlsupport: bool
    eventtrackers: _containers.RepeatedCompositeFieldContainer[NativeRequest.EventTrackers]
    privacy: bool
    ext: NativeRequest.Ext
    def __init__(self, ver: _Optional[str] = ..., layout: _Optional[int] = ..., adunit: _Optional[int] = ..., context: _Optional[int] = ..., contextsubtype: _Optional[int] = ..., plcmttype: _Optional[int] = ..., plcmtcnt: _Optional[int] = ..., seq: _Optional[int] = ..., assets: _Optional[_Iterable[_Union[NativeRequest.Asset, _Mapping]]] = ..., aurlsupport: _Optional[bool] = ..., durlsupport: _Optional[bool] = ..., eventtrackers: _Optional[_Iterable[_Union[NativeRequest.EventTrackers, _Mapping]]] = ..., privacy: _Optional[bool] = ..., ext: _Optional[_Union[NativeRequest.Ext, _Mapping]] = ...) -> None: ...

class NativeResponse(_message.Message):
    __slots__ = ("ver", "assets", "assetsurl", "dcourl", "link", "imptrackers", "jstracker", "eventtrackers", "privacy", "ext")
    class Ext(_message.Message):
        __slots__ = ()
        Extensions: _python_message._ExtensionDict
        def __init__(self) -> None: ...
    class Link(_message.Message):
        __slots__ = ("url", "clicktrackers", "fallback", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        URL_FIELD_NUMBER: _ClassVar[int]
        CLICKTRACKERS_FIELD_NUMBER: _ClassVar[int]
        FALLBACK_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        url: str
        clicktrackers: _containers.RepeatedScalarFieldContainer[str]
        fallback: str
        ext: NativeResponse.Link.Ext
        def __init__(self, url: _Optional[str] = ..., clicktrackers: _Optional[_Iterable[str]] = ..., fallback: _Optional[str] = ..., ext: _Optional[_Union[NativeResponse.Link.Ext, _Mapping]] = ...) -> None: ...
    class Asset(_message.Message):
        __slots__ = ("id", "required", "title", "img", "video", "data", "link", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        ID_FIELD_NUMBER: _ClassVar[int]
        REQUIRED_FIELD_NUMBER: _ClassVar[int]
        TITLE_FIELD_NUMBER: _ClassVar[int]
        IMG_FIELD_NUMBER: _ClassVar[int]
        VIDEO_FIELD_NUMBER: _ClassVar[int]
        DATA_FIELD_NUMBER: _ClassVar[int]
        LINK_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        id: int
        required: bool
        title: NativeResponse.Title
        img: NativeResponse.Image
        video: NativeResponse.Video
        data: NativeResponse.Data
        link: NativeResponse.Link
        ext: NativeResponse.Asset.Ext
        def __init__(self, id: _Optional[int] = ..., required: _Optional[bool] = ..., title: _Optional[_Union[NativeResponse.Title, _Mapping]] = ..., img: _Optional[_Union[NativeResponse.Image, _Mapping]] = ..., video: _Optional[_Union[NativeResponse.Video, _Mapping]] = ..., data: _Optional[_Union[NativeResponse.Data, _Mapping]] = ..., link: _Optional[_Union[NativeResponse.Link, _Mapping]] = ..., ext: _Optional[_Union[NativeResponse.Asset.Ext, _Mapping]] = ...) -> None: ...
    class Title(_message.Message):
        __slots__ = ("text", "len", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        TEXT_FIELD_NUMBER: _ClassVar[int]
        LEN_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        text: str
        len: int
        ext: NativeResponse.Title.Ext
        def __init__(self, text: _Optional[str] = ..., len: _Optional[int] = ..., ext: _Optional[_Union[NativeResponse.Title.Ext, _Mapping]] = ...) -> None: ...
    class Image(_message.Message):
        __slots__ = ("type", "url", "w", "h", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        TYPE_FIELD_NUMBER: _ClassVar[int]
        URL_FIELD_NUMBER: _ClassVar[int]
        W_FIELD_NUMBER: _ClassVar[int]
        H_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        type: int
        url: str
        w: int
        h: int
        ext: NativeResponse.Image.Ext
        def __init__(self, type: _Optional[int] = ..., url: _Optional[str] = ..., w: _Optional[int] = ..., h: _Optional[int] = ..., ext: _Optional[_Union[NativeResponse.Image.Ext, _Mapping]] = ...) -> None: ...
    class Data(_message.Message):
        __slots__ = ("type", "len", "label", "value", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        TYPE_FIELD_NUMBER: _ClassVar[int]
        LEN_FIELD_NUMBER: _ClassVar[int]
        LABEL_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        type: int
        len: int
        label: str
        value: str
        ext: NativeResponse.Data.Ext
        def __init__(self, type: _Optional[int] = ..., len: _Optional[int] = ..., label: _Optional[str] = ..., value: _Optional[str] = ..., ext: _Optional[_Union[NativeResponse.Data.Ext, _Mapping]] = ...) -> None: ...
    class Video(_message.Message):
        __slots__ = ("vasttag", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        VASTTAG_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        vasttag: str
        ext: NativeResponse.Video.Ext
        def __init__(self, vasttag: _Optional[str] = ..., ext: _Optional[_Union[NativeResponse.Video.Ext, _Mapping]] = ...) -> None: ...
    class EventTracker(_message.Message):
        __slots__ = ("event", "method", "url", "customdata", "ext")
        class Ext(_message.Message):
            __slots__ = ()
            Extensions: _python_message._ExtensionDict
            def __init__(self) -> None: ...
        EVENT_FIELD_NUMBER: _ClassVar[int]
        METHOD_FIELD_NUMBER: _ClassVar[int]
        URL_FIELD_NUMBER: _ClassVar[int]
        CUSTOMDATA_FIELD_NUMBER: _ClassVar[int]
        EXT_FIELD_NUMBER: _ClassVar[int]
        event: int
        method: int
        url: str
        customdata: str
        ext: NativeResponse.EventTracker.Ext
        def __init__(self, event: _Optional[int] = ..., method: _Optional[int] = ..., url: _Optional[str] = ..., customdata: _Optional[str] = ..., ext: _Optional[_Union[NativeResponse.EventTracker.Ext, _Mapping]] = ...) -> None: ...
    VER_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    ASSETSURL_FIELD_NUMBER: _ClassVar[int]
    DCOURL_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    IMPTRACKERS_FIELD_NUMBER: _ClassVar[int]
    JSTRACKER_FIELD_NUMBER: _ClassVar[int]
    EVENTTRACKERS_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_FIELD_NUMBER: _ClassVar[int]
    EXT_FIELD_NUMBER: _ClassVar[int]
    ver: str
    assets: _containers.RepeatedCompositeFieldContainer[NativeResponse.Asset]
    assetsurl: str
    dcourl: str
    link: NativeResponse.Link
    imptrackers: _containers.RepeatedScalarFieldContainer[str]
    jstracker: str
    eventtrackers: _containers.RepeatedCompositeFieldContainer[NativeResponse.EventTracker]
    privacy: str
    ext: NativeResponse.Ext
    def __init__(self, ver: _Optional[str] = ..., assets: _Optional[_Iterable[_Union[NativeResponse.Asset, _Mapping]]] = ..., assetsurl: _Optional[str] = ..., dcourl: _Optional[str] = ..., link: _Optional[_Union[NativeResponse.Link, _Mapping]] = ..., imptrackers: _Optional[_Iterable[str]] = ..., jstracker: _Optional[str] = ..., eventtrackers: _Optional[_Iterable[_Union[NativeResponse.EventTracker, _Mapping]]] = ..., privacy: _Optional[str] = ..., ext: _Optional[_Union[NativeResponse.Ext, _Mapping]] = ...) -> None: ...
