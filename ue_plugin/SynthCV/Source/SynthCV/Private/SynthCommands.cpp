// SynthCV: UnrealCV commands for synth (see ue_plugin/README.md).
#include "SynthCommands.h"

#include "Animation/AnimSequence.h"
#include "Animation/AnimSingleNodeInstance.h"
#include "Animation/SkeletalMeshActor.h"
#include "Components/CapsuleComponent.h"
#include "Components/SceneCaptureComponent2D.h"
#include "Components/SkeletalMeshComponent.h"
#include "Engine/LevelScriptActor.h"
#include "Engine/SkeletalMesh.h"
#include "Engine/World.h"
#include "EngineUtils.h"
#include "GameFramework/Character.h"
#include "Kismet/GameplayStatics.h"
#include "ContentStreaming.h"
#include "Engine/Engine.h"
#include "GameFramework/PlayerController.h"
#include "Misc/App.h"
#include "Misc/OutputDeviceNull.h"
#include "Misc/PackageName.h"
#include "Misc/SecureHash.h"
#include "Runtime/Launch/Resources/Version.h"
#include "ShaderCompiler.h"
#include "UObject/Package.h"
#include "UObject/UObjectGlobals.h"

#include "BPFunctionLib/SensorBPLib.h"
#include "Sensor/CameraSensor/FusionCamSensor.h"
#include "Sensor/CameraSensor/LitCamSensor.h"
#include "Server/CommandDispatcher.h"
#include "Server/UnrealcvServer.h"

namespace
{
	// Keep in step with PLUGIN_VERSION in synth/render/unreal/protocol.py.
	const TCHAR* SynthCVVersion = TEXT("1.1");

	// The level Blueprint's custom event that applies a lighting preset: SynthSetLighting(Preset: String).
	const TCHAR* LightingEvent = TEXT("SynthSetLighting");

	UWorld* GameWorld()
	{
		return FUnrealcvServer::Get().GetWorld();
	}

	/** "/Game/Maps/Foo.Foo" or "/Game/Maps/Foo" -> "/Game/Maps/Foo" (also what GetMap reports). */
	FString MapPackage(const FString& Asset)
	{
		FString Package, Object;
		return Asset.Split(TEXT("."), &Package, &Object) ? Package : Asset;
	}

	FString WorldPackage(UWorld* World)
	{
		return UWorld::RemovePIEPrefix(World->GetPackage()->GetName());
	}

	FExecStatus Errorf(const FString& Message)
	{
		return FExecStatus::Error(Message);
	}

	// Engine frames to wait after streaming and shaders are done, for frame-driven streamers (Nanite pages, virtual
	// texture feedback) to converge.
	const uint64 ReadyAfterFrames = 30;

	/** Every skeletal mesh component of a character: the posed mesh first, then modular / MetaHuman parts. */
	TArray<USkeletalMeshComponent*> SkeletalMeshesOf(AActor* Actor, USkeletalMeshComponent* Main)
	{
		TArray<USkeletalMeshComponent*> All;
		All.Add(Main);
		TArray<USkeletalMeshComponent*> Found;
		Actor->GetComponents<USkeletalMeshComponent>(Found);
		for (USkeletalMeshComponent* C : Found)
		{
			if (C != Main)
			{
				All.Add(C);
			}
		}
		return All;
	}

	/** Capture cameras: UnrealCV sensors with id >= 1 (id 0 is the pawn's). */
	TArray<UFusionCamSensor*> CaptureSensors()
	{
		TArray<UFusionCamSensor*> Sensors = USensorBPLib::GetFusionSensorList();
		if (Sensors.Num() > 0)
		{
			Sensors.RemoveAt(0);
		}
		return Sensors;
	}

	/** The lit capture component of a sensor (the one `vget /camera/N/lit` reads). */
	TArray<USceneCaptureComponent2D*> LitCapturesOf(UFusionCamSensor* Sensor)
	{
		TArray<USceneCaptureComponent2D*> Out;
		TArray<USceneComponent*> Children;
		Sensor->GetChildrenComponents(/*bIncludeAllDescendants=*/true, Children);
		for (USceneComponent* Child : Children)
		{
			if (ULitCamSensor* Lit = Cast<ULitCamSensor>(Child))
			{
				Out.Add(Lit);
			}
		}
		return Out;
	}
}

void FSynthCommands::Register(FCommandDispatcher& Dispatcher)
{
	TSharedRef<FSynthCommands> Self = AsShared();
	auto Bind = [&Dispatcher, Self](const TCHAR* Uri, FExecStatus (FSynthCommands::*Handler)(const TArray<FString>&),
									const TCHAR* Help)
	{
		Dispatcher.BindCommand(Uri, FDispatcherDelegate::CreateLambda(
			[Self, Handler](const TArray<FString>& Args) { return ((*Self).*Handler)(Args); }), Help);
	};
	Bind(TEXT("vget /synth/version"), &FSynthCommands::GetVersion, TEXT("SynthCV plugin version"));
	Bind(TEXT("vset /synth/map [str]"), &FSynthCommands::OpenMap,
		TEXT("Open a map by package path; poll vget /synth/map until it reports ready"));
	Bind(TEXT("vget /synth/map"), &FSynthCommands::GetMap,
		TEXT("Current map package path and 'ready' (new world begun play, streaming and shaders done) or 'loading'"));
	Bind(TEXT("vset /synth/lighting [str]"), &FSynthCommands::SetLighting,
		TEXT("Apply a lighting preset: calls the level Blueprint's SynthSetLighting(Preset) event"));
	Bind(TEXT("vset /synth/character/spawn [str] [str] [float] [float] [float] [float]"), &FSynthCommands::SpawnCharacter,
		TEXT("Spawn a character: name, asset (Blueprint class or skeletal mesh path), feet x y z (cm), yaw (deg)"));
	Bind(TEXT("vset /synth/character/[str]/animation [str]"), &FSynthCommands::SetAnimation,
		TEXT("Play an animation sequence (asset path) on the character, stopped at time 0"));
	Bind(TEXT("vset /synth/character/[str]/time [float]"), &FSynthCommands::SetAnimationTime,
		TEXT("Pose the character at an animation time (s); works while the game is paused"));
	Bind(TEXT("vget /synth/character/[str]/bones"), &FSynthCommands::GetBones,
		TEXT("Bone world positions, one 'name x y z' (cm) per line"));
	Bind(TEXT("vset /synth/character/[str]/destroy"), &FSynthCommands::DestroyCharacter, TEXT("Remove the character"));
	Bind(TEXT("vset /synth/camera/[uint]/lens [float] [float] [float] [float]"), &FSynthCommands::SetLens,
		TEXT("Lens: focal length (mm), sensor width and height (mm), aperture (f-number)"));
	Bind(TEXT("vset /synth/capture_mode [str] [uint]"), &FSynthCommands::SetCaptureMode,
		TEXT("Determinism: 'paused' or 'step', settle renders per camera and frame (0: temporal effects off)"));
	Bind(TEXT("vset /synth/cameras/prepare [str]"), &FSynthCommands::PrepareCameras,
		TEXT("Focus every capture camera on the named character, then run the settle renders"));
	Bind(TEXT("vset /synth/step [float]"), &FSynthCommands::Step,
		TEXT("Step mode: advance the world by one fixed time step of that many seconds, paused again after"));
	Bind(TEXT("vget /synth/step"), &FSynthCommands::GetStep, TEXT("Fixed time steps still to run (0: done)"));
	Bind(TEXT("vget /synth/camera/[uint]/lit_hash"), &FSynthCommands::GetLitHash,
		TEXT("SHA-1 (hex) of the RGB bytes of a fresh lit capture of that camera"));
	PostTickHandle = FWorldDelegates::OnWorldPostActorTick.AddSP(Self, &FSynthCommands::OnWorldPostActorTick);
}

void FSynthCommands::Unregister()
{
	FWorldDelegates::OnWorldPostActorTick.Remove(PostTickHandle);
	// Fixed time step off again (the game may go on without us).
	FApp::SetUseFixedTimeStep(false);
}

FExecStatus FSynthCommands::GetVersion(const TArray<FString>& Args)
{
	return FExecStatus::OK(SynthCVVersion);
}

// --------------------------------------------------------------------------------------------------------- maps
FExecStatus FSynthCommands::OpenMap(const TArray<FString>& Args)
{
	UWorld* World = GameWorld();
	if (!World)
	{
		return Errorf(TEXT("No game world"));
	}
	const FString Package = MapPackage(Args[0]);
	if (!FPackageName::DoesPackageExist(Package))
	{
		return Errorf(FString::Printf(TEXT("Map %s not found (is it listed in the project's maps to cook?)"), *Package));
	}
	// UGameplayStatics::OpenLevel travels on a later tick: this reply comes before the new world exists, so the
	// client polls GetMap. Everything spawned in the old world (characters, UnrealCV cameras) goes with it.
	Characters.Empty();
	PendingMap = Package;
	OldWorld = World;
	SettledSinceFrame = 0;
	StepsPending = 0;
	UGameplayStatics::OpenLevel(World, FName(*Package), /*bAbsolute=*/true);
	return FExecStatus::OK();
}

FExecStatus FSynthCommands::GetMap(const TArray<FString>& Args)
{
	UWorld* World = GameWorld();
	if (!World)
	{
		return FExecStatus::OK(TEXT("/None loading"));
	}
	const FString Current = WorldPackage(World);
	auto Loading = [&Current]() { return FExecStatus::OK(FString::Printf(TEXT("%s loading"), *Current)); };
	// Never answer from the old world (re-opening the current map has the same package name).
	const bool bArrived = PendingMap.IsEmpty() || (Current == PendingMap && World != OldWorld.Get());
	if (!bArrived || !World->HasBegunPlay())
	{
		return Loading();
	}
	if (SettledSinceFrame == 0)
	{
		// Blocking waits, once per map (the client polls with its level timeout): streaming levels / World Partition
		// cells, async package loading, then shaders.
		World->BlockTillLevelStreamingCompleted();
		FlushAsyncLoading();
		if (GShaderCompilingManager)
		{
			GShaderCompilingManager->FinishAllCompilation();
		}
		IStreamingManager::Get().StreamAllResources(/*TimeLimit=*/0.f);
		IStreamingManager::Get().BlockTillAllRequestsFinished(/*TimeLimit=*/0.f, /*bLogResults=*/false);
		SettledSinceFrame = GFrameCounter;
		return Loading();
	}
	// Anything started since (a streaming volume, a late shader) sends us back to waiting.
	if (IsAsyncLoading() || (GShaderCompilingManager && GShaderCompilingManager->IsCompiling()) ||
		IStreamingManager::Get().GetNumWantingResources() > 0)
	{
		SettledSinceFrame = 0;
		return Loading();
	}
	if (GFrameCounter - SettledSinceFrame < ReadyAfterFrames)
	{
		return Loading();
	}
	PendingMap.Empty();
	OldWorld.Reset();
	return FExecStatus::OK(FString::Printf(TEXT("%s ready"), *Current));
}

FExecStatus FSynthCommands::SetLighting(const TArray<FString>& Args)
{
	UWorld* World = GameWorld();
	ALevelScriptActor* LevelScript = World ? World->GetLevelScriptActor() : nullptr;
	if (!LevelScript)
	{
		return Errorf(TEXT("The map has no level Blueprint"));
	}
	if (!LevelScript->FindFunction(FName(LightingEvent)))
	{
		return Errorf(FString::Printf(TEXT("The level Blueprint of %s has no custom event %s(Preset: String)"),
			*WorldPackage(World), LightingEvent));
	}
	FOutputDeviceNull Output;
	const FString Call = FString::Printf(TEXT("%s %s"), LightingEvent, *Args[0]);
	if (!LevelScript->CallFunctionByNameWithArguments(*Call, Output, nullptr, /*bForceCallWithNonExec=*/true))
	{
		return Errorf(FString::Printf(TEXT("Calling %s failed"), *Call));
	}
	return FExecStatus::OK();
}

// --------------------------------------------------------------------------------------------------- characters
AActor* FSynthCommands::FindCharacter(const FString& Name) const
{
	// Only actors this plugin spawned: a level actor that happens to have the name is never posed or destroyed.
	if (const TWeakObjectPtr<AActor>* Ours = Characters.Find(Name))
	{
		if (Ours->IsValid())
		{
			return Ours->Get();
		}
	}
	return nullptr;
}

USkeletalMeshComponent* FSynthCommands::FindMesh(const FString& Name, FString& OutError) const
{
	AActor* Actor = FindCharacter(Name);
	if (!Actor)
	{
		OutError = FString::Printf(TEXT("No character %s spawned by SynthCV"), *Name);
		return nullptr;
	}
	// A Character's body is GetMesh(); other components (weapons, parts) may come first in the component list.
	USkeletalMeshComponent* Mesh = nullptr;
	if (ACharacter* Character = Cast<ACharacter>(Actor))
	{
		Mesh = Character->GetMesh();
	}
	else if (ASkeletalMeshActor* MeshActor = Cast<ASkeletalMeshActor>(Actor))
	{
		Mesh = MeshActor->GetSkeletalMeshComponent();
	}
	else
	{
		Mesh = Actor->FindComponentByClass<USkeletalMeshComponent>();
	}
	if (!Mesh || !Mesh->GetSkeletalMeshAsset())
	{
		OutError = FString::Printf(TEXT("Character %s has no skeletal mesh"), *Name);
		return nullptr;
	}
	return Mesh;
}

FExecStatus FSynthCommands::SpawnCharacter(const TArray<FString>& Args)
{
	const FString& Name = Args[0];
	const FString& Asset = Args[1];
	const FVector Feet(FCString::Atod(*Args[2]), FCString::Atod(*Args[3]), FCString::Atod(*Args[4]));
	const double Yaw = FCString::Atod(*Args[5]);
	UWorld* World = GameWorld();
	if (!World)
	{
		return Errorf(TEXT("No game world"));
	}
	if (FindCharacter(Name))
	{
		return Errorf(FString::Printf(TEXT("Character %s already exists"), *Name));
	}

	FActorSpawnParameters Params;
	Params.Name = FName(*Name);
	Params.NameMode = FActorSpawnParameters::ESpawnActorNameMode::Requested;
	Params.SpawnCollisionHandlingOverride = ESpawnActorCollisionHandlingMethod::AlwaysSpawn;
	const FTransform Transform(FRotator(0.0, Yaw, 0.0), Feet);

	AActor* Actor = nullptr;
	// A Blueprint class path ends in _C ("/Game/Characters/BP_Hero.BP_Hero_C"); anything else is a skeletal mesh.
	if (Asset.EndsWith(TEXT("_C")))
	{
		UClass* Class = LoadClass<AActor>(nullptr, *Asset);
		if (!Class)
		{
			return Errorf(FString::Printf(TEXT("Blueprint class %s not found (cooked into the game?)"), *Asset));
		}
		Actor = World->SpawnActor<AActor>(Class, Transform, Params);
	}
	else
	{
		USkeletalMesh* SkeletalMesh = LoadObject<USkeletalMesh>(nullptr, *Asset);
		if (!SkeletalMesh)
		{
			return Errorf(FString::Printf(TEXT("Skeletal mesh %s not found (cooked into the game?)"), *Asset));
		}
		ASkeletalMeshActor* MeshActor = World->SpawnActor<ASkeletalMeshActor>(ASkeletalMeshActor::StaticClass(),
			Transform, Params);
		if (MeshActor)
		{
			USkeletalMeshComponent* Mesh = MeshActor->GetSkeletalMeshComponent();
			Mesh->SetMobility(EComponentMobility::Movable);
			Mesh->SetSkeletalMeshAsset(SkeletalMesh);
		}
		Actor = MeshActor;
	}
	if (!Actor)
	{
		return Errorf(FString::Printf(TEXT("Spawning %s failed"), *Asset));
	}
	if (Actor->GetName() != Name)  // UnrealCV finds objects by name: it must be exact
	{
		Actor->Destroy();
		return Errorf(FString::Printf(TEXT("The name %s is taken in this world"), *Name));
	}
	// The location is where the feet touch the ground; a Character's root is its capsule's centre.
	if (ACharacter* Character = Cast<ACharacter>(Actor))
	{
		const float HalfHeight = Character->GetCapsuleComponent()->GetScaledCapsuleHalfHeight();
		Character->SetActorLocation(Feet + FVector(0.0, 0.0, HalfHeight), false, nullptr, ETeleportType::TeleportPhysics);
	}
	// What is captured must not depend on screen size or visibility: no animation update-rate optimisations, always
	// tick pose and bones, the finest LOD (ForcedLOD is 1-based; 0 = automatic).
	TArray<USkeletalMeshComponent*> Meshes;
	Actor->GetComponents<USkeletalMeshComponent>(Meshes);
	for (USkeletalMeshComponent* Part : Meshes)
	{
		Part->bEnableUpdateRateOptimizations = false;
		Part->VisibilityBasedAnimTickOption = EVisibilityBasedAnimTickOption::AlwaysTickPoseAndRefreshBones;
		Part->SetForcedLOD(1);
	}
	Characters.Add(Name, Actor);
	return FExecStatus::OK();
}

FExecStatus FSynthCommands::SetAnimation(const TArray<FString>& Args)
{
	FString Error;
	USkeletalMeshComponent* Mesh = FindMesh(Args[0], Error);
	if (!Mesh)
	{
		return Errorf(Error);
	}
	UAnimSequence* Sequence = LoadObject<UAnimSequence>(nullptr, *Args[1]);
	if (!Sequence)
	{
		return Errorf(FString::Printf(TEXT("Animation sequence %s not found (cooked into the game?)"), *Args[1]));
	}
	// Sequencer's way of posing a paused character: single-node playback, stopped, positioned explicitly. The
	// skeleton check is the engine's own (it accepts UE5 compatible skeletons); a sequence it rejects is not set.
	Mesh->PlayAnimation(Sequence, /*bLooping=*/false);
	UAnimSingleNodeInstance* Node = Mesh->GetSingleNodeInstance();
	if (!Node)
	{
		return Errorf(FString::Printf(TEXT("Character %s cannot play single animations"), *Args[0]));
	}
	if (Node->GetAnimationAsset() != Sequence)
	{
		return Errorf(FString::Printf(TEXT("Animation %s does not fit the skeleton of %s (neither the same nor a "
			"compatible skeleton: retarget it in the editor)"), *Args[1], *Args[0]));
	}
	Node->SetPlaying(false);
	Node->SetPosition(0.f, /*bFireNotifies=*/false);
	return FExecStatus::OK();
}

FExecStatus FSynthCommands::SetAnimationTime(const TArray<FString>& Args)
{
	FString Error;
	USkeletalMeshComponent* Mesh = FindMesh(Args[0], Error);
	if (!Mesh)
	{
		return Errorf(Error);
	}
	UAnimSingleNodeInstance* Node = Mesh->GetSingleNodeInstance();
	if (!Node || !Node->GetAnimationAsset())
	{
		return Errorf(FString::Printf(TEXT("Character %s has no animation (set it first)"), *Args[0]));
	}
	// The client wraps looping clips; times past the end clamp to the last pose.
	const float Time = FMath::Clamp(FCString::Atof(*Args[1]), 0.f, Node->GetLength());
	Node->SetPosition(Time, /*bFireNotifies=*/false);
	// Evaluate the pose now: the game is paused, so nothing would tick the components. UE's own paused-posing
	// sequence (Sequencer): tick the animation by 0, refresh bones, refresh leader-pose followers (modular /
	// MetaHuman parts), update the transforms, finalize, mark the render state dirty. Parts with their own animation
	// instance (copy pose, post-process AnimBP) are evaluated the same way.
	AActor* Owner = Mesh->GetOwner();
	for (USkeletalMeshComponent* Part : SkeletalMeshesOf(Owner, Mesh))
	{
		if (Part != Mesh && Part->LeaderPoseComponent.IsValid())
		{
			continue;  // a follower: refreshed from its leader below
		}
		Part->TickAnimation(0.f, /*bNeedsValidRootMotion=*/false);
		Part->RefreshBoneTransforms();
		Part->RefreshFollowerComponents();
		Part->UpdateComponentToWorld();
		Part->FinalizeBoneTransform();
		Part->MarkRenderTransformDirty();
		Part->MarkRenderDynamicDataDirty();
	}
	return FExecStatus::OK();
}

FExecStatus FSynthCommands::GetBones(const TArray<FString>& Args)
{
	FString Error;
	USkeletalMeshComponent* Mesh = FindMesh(Args[0], Error);
	if (!Mesh)
	{
		return Errorf(Error);
	}
	FString Reply;
	for (int32 Index = 0; Index < Mesh->GetNumBones(); ++Index)
	{
		const FName Bone = Mesh->GetBoneName(Index);
		const FVector P = Mesh->GetBoneLocation(Bone, EBoneSpaces::WorldSpace);
		// one line per bone, four space-separated fields: bone names must not contain spaces
		Reply += FString::Printf(TEXT("%s %.4f %.4f %.4f\n"), *Bone.ToString().Replace(TEXT(" "), TEXT("_")),
			P.X, P.Y, P.Z);
	}
	return FExecStatus::OK(Reply);
}

FExecStatus FSynthCommands::DestroyCharacter(const TArray<FString>& Args)
{
	AActor* Actor = FindCharacter(Args[0]);
	if (!Actor)
	{
		return Errorf(FString::Printf(TEXT("No character %s spawned by SynthCV"), *Args[0]));
	}
	Characters.Remove(Args[0]);
	// Free the name at once (same outer, unique name) so that the next scene can spawn one of the same name.
	const FName Freed = MakeUniqueObjectName(Actor->GetOuter(), Actor->GetClass(), FName(*(Args[0] + TEXT("_Destroyed"))));
	Actor->Rename(*Freed.ToString(), nullptr, REN_DontCreateRedirectors | REN_NonTransactional);
	Actor->Destroy();
	return FExecStatus::OK();
}

// ------------------------------------------------------------------------------------------------------ cameras
FExecStatus FSynthCommands::SetLens(const TArray<FString>& Args)
{
	const int32 CameraId = FCString::Atoi(*Args[0]);
	const float FocalMm = FCString::Atof(*Args[1]);
	const float SensorWidthMm = FCString::Atof(*Args[2]);
	const float SensorHeightMm = FCString::Atof(*Args[3]);
	const float FNumber = FCString::Atof(*Args[4]);
	if (FocalMm <= 0.f || SensorWidthMm <= 0.f || SensorHeightMm <= 0.f || FNumber <= 0.f)
	{
		return Errorf(TEXT("Lens values must be positive: focal_mm sensor_width_mm sensor_height_mm f_number"));
	}
	UFusionCamSensor* Sensor = USensorBPLib::GetSensorById(CameraId);
	if (!Sensor)
	{
		return Errorf(TEXT("Invalid sensor id"));
	}
	// Square pixels: the sensor's aspect must be the image's (the vertical FOV follows from the horizontal one).
	const float FilmAspect = Sensor->GetFilmWidth() / FMath::Max(1.f, Sensor->GetFilmHeight());
	if (!FMath::IsNearlyEqual(SensorWidthMm / SensorHeightMm, FilmAspect, 1e-3f * FilmAspect))
	{
		return Errorf(FString::Printf(TEXT("Sensor %.3f x %.3f mm does not have the image's aspect %.5f (set the size "
			"first; non-square pixels are not supported)"), SensorWidthMm, SensorHeightMm, FilmAspect));
	}
	// Pinhole: horizontal FOV from the sensor width, as synth.geometry.horizontal_fov_deg.
	const float HorizontalFov = FMath::RadiansToDegrees(2.f * FMath::Atan(SensorWidthMm / (2.f * FocalMm)));
	Sensor->SetSensorFOV(HorizontalFov);
	// Motion blur off (exact per-frame poses); the aperture and sensor width feed depth of field where the map's
	// post-process volume enables it.
	Sensor->SetMotionBlurParams(0.f, 0.f, 0.f, 0);
	TArray<USceneComponent*> Children;
	Sensor->GetChildrenComponents(/*bIncludeAllDescendants=*/true, Children);
	for (USceneComponent* Child : Children)
	{
		if (USceneCaptureComponent2D* Capture = Cast<USceneCaptureComponent2D>(Child))
		{
			FPostProcessSettings& PP = Capture->PostProcessSettings;
			PP.bOverride_DepthOfFieldFstop = true;
			PP.DepthOfFieldFstop = FNumber;
			PP.bOverride_DepthOfFieldSensorWidth = true;
			PP.DepthOfFieldSensorWidth = SensorWidthMm;
			// the focus distance follows the character per frame (vset /synth/cameras/prepare): until then the
			// aperture has no effect
		}
	}
	return FExecStatus::OK();
}

// -------------------------------------------------------------------------------------------------- determinism
void FSynthCommands::ApplyTemporalSettings()
{
	for (UFusionCamSensor* Sensor : CaptureSensors())
	{
		// Exposure never adapts: what the map's post-process volume sets manually (or EV 0).
		Sensor->SetExposureMethod(EAutoExposureMethod::AEM_Manual);
		for (USceneCaptureComponent2D* Capture : LitCapturesOf(Sensor))
		{
			const bool bTemporal = SettleRenders > 0;
			// UnrealCV sets bAlwaysPersistRenderingState: TAA/TSR history, Lumen accumulation and eye adaptation carry
			// over from earlier captures. Either settle them per frame, or keep no history at all.
			Capture->bAlwaysPersistRenderingState = bTemporal;
			Capture->ShowFlags.SetTemporalAA(bTemporal);
			Capture->ShowFlags.SetEyeAdaptation(false);
			Capture->ShowFlags.SetMotionBlur(false);
		}
	}
}

FExecStatus FSynthCommands::SetCaptureMode(const TArray<FString>& Args)
{
	if (Args[0] != TEXT("paused") && Args[0] != TEXT("step"))
	{
		return Errorf(FString::Printf(TEXT("Capture mode %s: expected paused or step"), *Args[0]));
	}
	Mode = Args[0];
	SettleRenders = FMath::Clamp(FCString::Atoi(*Args[1]), 0, 64);
	// A fixed time step for everything that ticks (the step mode sets its length per step).
	FApp::SetUseFixedTimeStep(true);
	FApp::SetFixedDeltaTime(1.0 / 30.0);
	ApplyTemporalSettings();
	return FExecStatus::OK();
}

FExecStatus FSynthCommands::PrepareCameras(const TArray<FString>& Args)
{
	FString Error;
	USkeletalMeshComponent* Mesh = FindMesh(Args[0], Error);
	if (!Mesh)
	{
		return Errorf(Error);
	}
	const FVector Target = Mesh->Bounds.Origin;
	for (UFusionCamSensor* Sensor : CaptureSensors())
	{
		// Focus on the character: distance along the optical axis (cm), so that the aperture means something.
		const FVector Forward = Sensor->GetSensorRotation().Vector();
		const float Focus = FMath::Max(1.f, static_cast<float>(FVector::DotProduct(Target - Sensor->GetSensorLocation(), Forward)));
		Sensor->SetFocalParams(Focus, /*FocalRegion=*/0.f);
		// Settle: render the lit view SettleRenders times at this very state so that temporal history converges.
		for (USceneCaptureComponent2D* Capture : LitCapturesOf(Sensor))
		{
			for (int32 K = 0; K < SettleRenders; ++K)
			{
				Capture->CaptureScene();
			}
		}
	}
	return FExecStatus::OK();
}

FExecStatus FSynthCommands::Step(const TArray<FString>& Args)
{
	if (Mode != TEXT("step"))
	{
		return Errorf(TEXT("Not in step mode (vset /synth/capture_mode step N)"));
	}
	const double Dt = FCString::Atod(*Args[0]);
	if (Dt <= 0.0)
	{
		return Errorf(TEXT("The time step must be positive"));
	}
	UWorld* World = GameWorld();
	APlayerController* PC = World ? World->GetFirstPlayerController() : nullptr;
	if (!PC)
	{
		return Errorf(TEXT("No player controller"));
	}
	// UnrealCV runs commands after the world has ticked: the next world tick runs with exactly Dt, and the
	// post-actor-tick hook pauses again after it.
	FApp::SetFixedDeltaTime(Dt);
	StepsPending = 1;
	PC->SetPause(false);
	return FExecStatus::OK();
}

void FSynthCommands::OnWorldPostActorTick(UWorld* World, ELevelTick TickType, float DeltaSeconds)
{
	if (StepsPending <= 0 || World != GameWorld() || TickType == LEVELTICK_PauseTick)
	{
		return;
	}
	if (--StepsPending == 0)
	{
		if (APlayerController* PC = World->GetFirstPlayerController())
		{
			PC->SetPause(true);
		}
	}
}

FExecStatus FSynthCommands::GetStep(const TArray<FString>& Args)
{
	return FExecStatus::OK(FString::Printf(TEXT("%d"), StepsPending));
}

FExecStatus FSynthCommands::GetLitHash(const TArray<FString>& Args)
{
	UFusionCamSensor* Sensor = USensorBPLib::GetSensorById(FCString::Atoi(*Args[0]));
	if (!Sensor)
	{
		return Errorf(TEXT("Invalid sensor id"));
	}
	TArray<FColor> Pixels;
	int Width = 0, Height = 0;
	Sensor->GetLit(Pixels, Width, Height);
	if (Pixels.Num() == 0)
	{
		return Errorf(TEXT("Captured data is empty"));
	}
	// R, G, B per pixel, rows top to bottom: synth.render.unreal.protocol.rgb_hash of the decoded BMP.
	TArray<uint8> Rgb;
	Rgb.Reserve(Pixels.Num() * 3);
	for (const FColor& P : Pixels)
	{
		Rgb.Add(P.R);
		Rgb.Add(P.G);
		Rgb.Add(P.B);
	}
	FSHAHash Hash;
	FSHA1::HashBuffer(Rgb.GetData(), Rgb.Num(), Hash.Hash);
	return FExecStatus::OK(Hash.ToString().ToLower());
}
